package esb.lambda.runtime;

import esb.lambda.runtime.Faults.Fault;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.lang.reflect.TypeVariable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;

/**
 * HandlerLoader resolves the handler string to something the runtime can
 * call, with the rules of AWS's Java runtime:
 * <ul>
 * <li>"pkg.Class" names a class implementing RequestStreamHandler or
 * RequestHandler&lt;I, O&gt; (from the function's aws-lambda-java-core);</li>
 * <li>"pkg.Class::method" names public methods; among overloads the one
 * with most parameters wins, a trailing Context counting one more. Accepted
 * shapes: (InputStream, OutputStream[, Context]), (InputStream[, Context]),
 * (OutputStream[, Context]), (T[, Context]), (Context) and (), T being
 * bound from the event's JSON and the result written as JSON.</li>
 * </ul>
 * A class that cannot be found, or has no such method, is reported on each
 * invocation (as AWS does); a class whose static initialiser or constructor
 * throws fails the init.
 */
final class HandlerLoader {
    private static final String STREAM_HANDLER = "com.amazonaws.services.lambda.runtime.RequestStreamHandler";
    private static final String REQUEST_HANDLER = "com.amazonaws.services.lambda.runtime.RequestHandler";
    private static final byte[] JSON_NULL = "null".getBytes(StandardCharsets.US_ASCII);

    /** Handler turns one event into the response payload. */
    interface Handler {
        byte[] handle(byte[] event, Object context) throws Throwable;
    }

    private final ClassLoader loader;
    private final Class<?> contextType; // null without aws-lambda-java-core
    private final Json json;

    HandlerLoader(ClassLoader loader, Class<?> contextType, Json json) {
        this.loader = loader;
        this.contextType = contextType;
        this.json = json;
    }

    /** load throws a fatal Fault when the init must fail. */
    Handler load(String handler) {
        int sep = handler.lastIndexOf("::");
        String className = sep < 0 ? handler : handler.substring(0, sep);
        String methodName = sep < 0 ? null : handler.substring(sep + 2);
        if (className.isEmpty() || (methodName != null && methodName.isEmpty())) {
            return failing(Fault.of("Invalid handler: `" + handler + "'"));
        }
        Class<?> cls;
        try {
            cls = Class.forName(className, true, loader);
        } catch (ClassNotFoundException e) {
            return failing(new Fault("Class not found: " + className, e.getClass().getName(), Faults.printed(e), false));
        } catch (NoClassDefFoundError e) {
            return failing(new Fault(loadingMessage(className, e), e.getClass().getName(), Faults.printed(e), false));
        } catch (Throwable t) {
            // A static initialiser threw: the function cannot start.
            throw new Fault(loadingMessage(className, t), t.getClass().getName(), Faults.printed(t), true);
        }
        try {
            return methodName == null ? interfaceHandler(cls) : methodHandler(cls, methodName);
        } catch (Fault f) {
            if (f.fatal) {
                throw f;
            }
            return failing(f);
        }
    }

    private static String loadingMessage(String className, Throwable t) {
        return "Error loading class " + className + (t.getMessage() == null ? "" : ": " + t.getMessage());
    }

    private static Handler failing(Fault f) {
        return (event, context) -> {
            throw f;
        };
    }

    private Handler interfaceHandler(Class<?> cls) {
        Class<?> streamIface = loadClass(STREAM_HANDLER);
        Class<?> requestIface = loadClass(REQUEST_HANDLER);
        try {
            if (streamIface != null && streamIface.isAssignableFrom(cls)) {
                Method m = streamIface.getMethod("handleRequest", InputStream.class, OutputStream.class, contextType);
                return streamHandler(m, instance(cls), true, true, true);
            }
            if (requestIface != null && requestIface.isAssignableFrom(cls)) {
                Type[] types = typeArguments(cls, requestIface);
                if (types == null || types.length != 2) {
                    return failing(Fault.of("Class " + cls.getName() + " does not implement RequestHandler with concrete type parameters"));
                }
                for (Type t : types) {
                    if (t instanceof TypeVariable && unbounded((TypeVariable<?>) t)) {
                        return failing(Fault.of("Class " + cls.getName()
                                + " does not implement RequestHandler with concrete type parameters: parameter " + t + " has no upper bound."));
                    }
                }
                Method m = requestIface.getMethod("handleRequest", Object.class, contextType);
                return pojoHandler(m, instance(cls), types[0], types[1], true);
            }
        } catch (NoSuchMethodException e) {
            return failing(Fault.of(e, false));
        }
        return failing(Fault.of("Class does not implement an appropriate handler interface: " + cls.getName()));
    }

    private Handler methodHandler(Class<?> cls, String name) {
        Method[] methods;
        try {
            methods = Arrays.stream(cls.getMethods()).filter(m -> m.getName().equals(name)).toArray(Method[]::new);
        } catch (NoClassDefFoundError e) {
            return failing(new Fault("Error loading method " + name + " on class " + cls.getName(), e.getClass().getName(), Faults.printed(e), false));
        }
        Arrays.sort(methods, Comparator.comparing(Method::isBridge).thenComparing(m -> -weight(m)));
        for (Method m : methods) {
            Handler h = overload(cls, m);
            if (h != null) {
                return h;
            }
        }
        return failing(Fault.of("No public method named " + name + " with appropriate method signature found on class " + cls.getName()));
    }

    // Longer signatures first; a trailing Context counts one more.
    private int weight(Method m) {
        Class<?>[] p = m.getParameterTypes();
        return p.length + (p.length > 0 && isContext(p[p.length - 1]) ? 1 : 0);
    }

    private Handler overload(Class<?> cls, Method m) {
        Type[] p = m.getGenericParameterTypes();
        Type r = m.getGenericReturnType();
        switch (p.length) {
            case 0:
                return pojoHandler(m, cls, null, r, false);
            case 1:
                if (p[0] == InputStream.class) {
                    return streamHandler(m, cls, true, false, false);
                } else if (p[0] == OutputStream.class) {
                    return streamHandler(m, cls, false, true, false);
                } else if (isContext(p[0])) {
                    return pojoHandler(m, cls, null, r, true);
                }
                return pojoHandler(m, cls, p[0], r, false);
            case 2:
                if (p[0] == OutputStream.class) {
                    return isContext(p[1]) ? streamHandler(m, cls, false, true, true) : skip(m, "first argument type is OutputStream and second argument type is not Context");
                } else if (isContext(p[0])) {
                    return skip(m, "first argument type is Context");
                } else if (p[0] == InputStream.class) {
                    if (p[1] == OutputStream.class) {
                        return streamHandler(m, cls, true, true, false);
                    }
                    return isContext(p[1]) ? streamHandler(m, cls, true, false, true) : skip(m, "second parameter type is not OutputStream");
                }
                return isContext(p[1]) ? pojoHandler(m, cls, p[0], r, true) : skip(m, "second parameter type is not Context");
            case 3:
                if (p[0] == InputStream.class && p[1] == OutputStream.class && isContext(p[2])) {
                    return streamHandler(m, cls, true, true, true);
                }
                return skip(m, "argument signature is not (InputStream, OutputStream, Context)");
            default:
                return skip(m, "it has too many parameters: Expected at most 3, got " + p.length);
        }
    }

    private static Handler skip(Method m, String why) {
        System.err.println("Ignoring an overload of method " + m.getName() + " because " + why);
        return null;
    }

    private boolean isContext(Type t) {
        return contextType != null && contextType.equals(t);
    }

    private Handler streamHandler(Method m, Object target, boolean in, boolean out, boolean ctx) {
        Object instance = target instanceof Class ? instanceFor(m, (Class<?>) target) : target;
        return (event, context) -> {
            ByteArrayOutputStream output = new ByteArrayOutputStream();
            Object[] args = new Object[(in ? 1 : 0) + (out ? 1 : 0) + (ctx ? 1 : 0)];
            int i = 0;
            if (in) {
                args[i++] = new ByteArrayInputStream(event);
            }
            if (out) {
                args[i++] = output;
            }
            if (ctx) {
                args[i] = context;
            }
            call(m, instance, args);
            return output.toByteArray();
        };
    }

    private Handler pojoHandler(Method m, Object target, Type input, Type result, boolean ctx) {
        Object instance = target instanceof Class ? instanceFor(m, (Class<?>) target) : target;
        boolean isVoid = result == void.class || result == Void.class;
        return (event, context) -> {
            Object[] args = new Object[(input != null ? 1 : 0) + (ctx ? 1 : 0)];
            int i = 0;
            if (input != null) {
                try {
                    args[i++] = json.read(event, input);
                } catch (Exception e) {
                    throw new RuntimeException("An error occurred during JSON parsing", Faults.filter(e));
                }
            }
            if (ctx) {
                args[i] = context;
            }
            Object value = call(m, instance, args);
            if (isVoid) {
                return JSON_NULL;
            }
            try {
                return json.write(value);
            } catch (Exception e) {
                throw new RuntimeException("An error occurred during JSON serialization of response", e);
            }
        };
    }

    private static Object call(Method m, Object instance, Object[] args) throws Throwable {
        try {
            return m.invoke(instance, args);
        } catch (InvocationTargetException e) {
            throw e.getCause() != null ? e.getCause() : e;
        }
    }

    private Object instanceFor(Method m, Class<?> cls) {
        return Modifier.isStatic(m.getModifiers()) ? null : instance(cls);
    }

    /**
     * instance creates the handler object once, at init. A missing public
     * no-argument constructor is reported on each invocation; a constructor
     * that throws fails the init.
     */
    private static Object instance(Class<?> cls) {
        Constructor<?> c;
        try {
            c = cls.getConstructor();
        } catch (NoSuchMethodException e) {
            if (cls.getEnclosingClass() != null && !Modifier.isStatic(cls.getModifiers())) {
                throw Fault.of("Class " + cls.getName() + " cannot be instantiated because it is a non-static inner class");
            }
            throw Fault.of("Class " + cls.getName() + " has no public zero-argument constructor");
        }
        try {
            return c.newInstance();
        } catch (InvocationTargetException e) {
            throw Fault.of(e.getCause() == null ? e : e.getCause(), true);
        } catch (ReflectiveOperationException e) {
            throw Fault.of(e, true);
        }
    }

    /**
     * typeArguments finds the actual type arguments cls gives iface, through
     * superclasses and interfaces, resolving type variables on the way.
     */
    private static Type[] typeArguments(Class<?> cls, Class<?> iface) {
        Deque<Object[]> queue = new ArrayDeque<>(); // {Type, Map<TypeVariable, Type>}
        queue.add(new Object[] {cls, new HashMap<TypeVariable<?>, Type>()});
        while (!queue.isEmpty()) {
            Object[] item = queue.poll();
            Type type = (Type) item[0];
            @SuppressWarnings("unchecked")
            Map<TypeVariable<?>, Type> bindings = (Map<TypeVariable<?>, Type>) item[1];
            Class<?> raw;
            Map<TypeVariable<?>, Type> own = new HashMap<>();
            if (type instanceof ParameterizedType) {
                ParameterizedType pt = (ParameterizedType) type;
                raw = (Class<?>) pt.getRawType();
                TypeVariable<?>[] vars = raw.getTypeParameters();
                Type[] args = pt.getActualTypeArguments();
                for (int i = 0; i < vars.length && i < args.length; i++) {
                    own.put(vars[i], resolve(args[i], bindings));
                }
                if (raw.equals(iface)) {
                    Type[] out = new Type[vars.length];
                    for (int i = 0; i < vars.length; i++) {
                        out[i] = own.get(vars[i]);
                    }
                    return out;
                }
            } else if (type instanceof Class) {
                raw = (Class<?>) type;
            } else {
                continue;
            }
            for (Type t : raw.getGenericInterfaces()) {
                queue.add(new Object[] {t, own});
            }
            if (raw.getGenericSuperclass() != null) {
                queue.add(new Object[] {raw.getGenericSuperclass(), own});
            }
        }
        return null;
    }

    private static Type resolve(Type t, Map<TypeVariable<?>, Type> bindings) {
        if (t instanceof TypeVariable && bindings.containsKey(t)) {
            return bindings.get(t);
        }
        return t;
    }

    private static boolean unbounded(TypeVariable<?> v) {
        for (Type b : v.getBounds()) {
            if (!Object.class.equals(b)) {
                return false;
            }
        }
        return true;
    }

    private Class<?> loadClass(String name) {
        try {
            return Class.forName(name, false, loader);
        } catch (ClassNotFoundException | LinkageError e) {
            return null;
        }
    }
}
