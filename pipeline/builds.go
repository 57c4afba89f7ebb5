package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"dagger.io/dagger"

	"github.com/esb-dev/esb/internal/runtimecatalog"
	"github.com/esb-dev/esb/internal/sam"
)

// JavaBuild is how a Java function's code directory becomes classes.
type JavaBuild string

// The Java builds ESB runs. A directory with a build file is built by that
// tool (which needs a Maven mirror: nothing else serves Maven artifacts to
// an edge site); plain .java sources are compiled with javac; anything
// else (classes, a built jar, lib/*.jar) is used as it is, as Lambda does.
const (
	JavaPrebuilt JavaBuild = "prebuilt"
	JavaSources  JavaBuild = "javac"
	JavaMaven    JavaBuild = "maven"
	JavaGradle   JavaBuild = "gradle"
)

// DetectJavaBuild looks at a Java function's code directory.
func DetectJavaBuild(dir string) (JavaBuild, error) {
	switch {
	case fileExists(filepath.Join(dir, "pom.xml")):
		return JavaMaven, nil
	case fileExists(filepath.Join(dir, "build.gradle")), fileExists(filepath.Join(dir, "build.gradle.kts")):
		return JavaGradle, nil
	}
	found := false
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir && isSkippedDir(d.Name()) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".java") {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("look for Java sources in %s: %w", dir, err)
	}
	if found {
		return JavaSources, nil
	}
	return JavaPrebuilt, nil
}

func isSkippedDir(name string) bool {
	for _, s := range skippedDirs() {
		if name == s {
			return true
		}
	}
	return false
}

// CheckBuilds refuses, before anything is built, the functions whose
// build cannot run here: a Maven or Gradle project while no Maven mirror
// is configured. Each error names the template, the function and its code
// directory.
func CheckBuilds(t *sam.Template, mavenMirror string) error {
	var errs []error
	for _, f := range t.Functions {
		rt, ok := runtimecatalog.Lookup(f.Runtime)
		if !ok || rt.Family != runtimecatalog.FamilyJava || f.PackageType == sam.PackageImage {
			continue
		}
		build, err := DetectJavaBuild(f.CodeDir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if (build == JavaMaven || build == JavaGradle) && mavenMirror == "" {
			rel, err := filepath.Rel(t.Dir, f.CodeDir)
			if err != nil {
				rel = f.CodeDir
			}
			errs = append(errs, sam.FunctionFieldError(t, f, "CodeUri", fmt.Errorf("%s is a %s project, and building it needs a Maven mirror, which is not configured: "+
				"set --maven-mirror URL (or ESB_MAVEN_MIRROR), or build the jar yourself and point CodeUri at a directory holding it (and its lib/)",
				filepath.ToSlash(rel), build)))
		}
	}
	return errors.Join(errs...)
}

// javaBuild turns the code in /var/task into what the runtime loads:
// classes in /var/task, dependency jars in /var/task/lib.
func (r *run) javaBuild(ctr *dagger.Container, hostDir, javaVersion string) (*dagger.Container, error) {
	build, err := DetectJavaBuild(hostDir)
	if err != nil {
		return nil, err
	}
	switch build {
	case JavaSources:
		// esb-javac ships in the Java base images.
		return ctr.WithExec([]string{"esb-javac", "/var/task"}), nil
	case JavaMaven, JavaGradle:
		if r.req.MavenMirror == "" {
			return nil, fmt.Errorf("%s is a %s project and no Maven mirror is configured", hostDir, build)
		}
		return r.toolBuild(ctr, build, javaVersion), nil
	default:
		return ctr, nil
	}
}

// toolBuild runs Maven or Gradle in a build container made from the
// function's base (Debian's maven, or the project's own gradlew with a
// Debian JDK), every repository pointed at the mirror, and copies the
// classes and runtime dependencies into the function's image, as `sam
// build` lays them out. Not exercised by ESB's tests: they have no Maven
// mirror to run against.
func (r *run) toolBuild(ctr *dagger.Container, build JavaBuild, javaVersion string) *dagger.Container {
	mirror := r.req.MavenMirror
	builder := ctr.WithMountedCache("/var/cache/apt/archives", r.cache("apt")).WithWorkdir("/var/task")
	var classes, libs string
	if build == JavaMaven {
		settings := `<settings><mirrors><mirror><id>esb-mirror</id><mirrorOf>*</mirrorOf><url>` + xmlEscape(mirror) + `</url></mirror></mirrors></settings>`
		builder = builder.
			WithExec([]string{"sh", "-c", "apt-get update -qq && apt-get install -y -qq --no-install-recommends maven >/dev/null"}).
			WithNewFile("/root/.m2/settings.xml", settings).
			WithMountedCache("/root/.m2/repository", r.cache("maven")).
			WithExec([]string{"mvn", "-B", "-q", "-DskipTests", "package", "dependency:copy-dependencies",
				"-DincludeScope=runtime", "-DoutputDirectory=target/esb-lib"})
		classes, libs = "/var/task/target/classes", "/var/task/target/esb-lib"
	} else {
		// Gradle checks for a JDK (bin/javac) before it compiles.
		initScript := `allprojects {
  buildscript { repositories { clear(); maven { url '` + mirror + `' } } }
  repositories { clear(); maven { url '` + mirror + `' } }
  afterEvaluate { p -> if (p.plugins.hasPlugin('java')) {
    p.tasks.register('esbCopyDependencies', Copy) { from p.configurations.runtimeClasspath; into p.layout.buildDirectory.dir('esb-lib') }
  } }
}
settingsEvaluated { s -> s.pluginManagement { repositories { clear(); maven { url '` + mirror + `' } } } }
`
		builder = builder.
			WithExec([]string{"sh", "-c", "apt-get update -qq && apt-get install -y -qq --no-install-recommends openjdk-" + javaVersion + "-jdk-headless >/dev/null"}).
			WithNewFile("/root/esb-init.gradle", initScript).
			WithMountedCache("/root/.gradle", r.cache("gradle")).
			WithExec([]string{"sh", "-c", "chmod +x ./gradlew 2>/dev/null; ./gradlew --no-daemon -q -I /root/esb-init.gradle -x test build esbCopyDependencies"})
		classes, libs = "/var/task/build/classes/java/main", "/var/task/build/esb-lib"
	}
	return ctr.
		WithDirectory("/var/task", builder.Directory(classes)).
		WithDirectory("/var/task/lib", builder.Directory(libs))
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}

// bundleInstall installs a Gemfile's gems into dir/vendor/bundle, where
// Lambda's GEM_PATH looks. Gems cached with `bundle cache` (vendor/cache)
// install from the cache alone, so an air-gapped site needs no gem server;
// otherwise bundler fetches from the Gemfile's source (or the mirror set
// with BUNDLE_MIRROR__... in the environment of the base image).
func (r *run) bundleInstall(ctr *dagger.Container, hostDir, dir string) *dagger.Container {
	args := []string{"bundle", "install", "--jobs", "4"}
	if dirExists(filepath.Join(hostDir, "vendor", "cache")) {
		args = append(args, "--local")
	}
	return ctr.
		WithMountedCache("/root/.bundle/cache", r.cache("bundle")).
		WithWorkdir(dir).
		WithExec([]string{"bundle", "config", "set", "--local", "path", "vendor/bundle"}).
		WithExec([]string{"bundle", "config", "set", "--local", "without", "development:test"}).
		WithExec(args).
		WithWorkdir("/var/task")
}
