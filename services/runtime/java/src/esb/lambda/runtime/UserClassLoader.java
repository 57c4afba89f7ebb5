package esb.lambda.runtime;

import java.io.File;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * UserClassLoader loads the function's classes from where Lambda puts them:
 * the task root (classes of an unpacked .zip or .jar, or sources compiled
 * at deploy time), the jars in its lib/ (a deployment package's
 * dependencies), jars lying in the task root itself (a CodeUri directory
 * holding the built jar), then /opt/java/lib (layers). Jars of one
 * directory come in name order, so the class path never depends on the
 * file system. Its parent is the platform class loader: the function sees
 * the JDK and its own libraries, never the runtime or the runtime's
 * Jackson.
 */
final class UserClassLoader {
    private UserClassLoader() {
    }

    static URLClassLoader create(String taskRoot, String optDir) throws MalformedURLException {
        List<URL> urls = new ArrayList<>();
        File root = new File(taskRoot);
        urls.add(root.toURI().toURL());
        addJars(new File(root, "lib"), urls);
        addJars(root, urls);
        addJars(new File(new File(optDir, "java"), "lib"), urls);
        return new URLClassLoader(urls.toArray(new URL[0]), ClassLoader.getPlatformClassLoader());
    }

    private static void addJars(File dir, List<URL> urls) throws MalformedURLException {
        String[] names = dir.list((d, name) -> name.endsWith(".jar"));
        if (names == null) {
            return;
        }
        Arrays.sort(names);
        for (String name : names) {
            urls.add(new File(dir, name).toURI().toURL());
        }
    }
}
