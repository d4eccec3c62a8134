package pizzeria.mongo;

import java.util.List;

import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;

/**
 * The project's MongoDB wire-protocol server for local runs and tests.
 *
 * <p>Usage: {@code Main HOST PORT memory} or {@code Main HOST PORT h2 FILE}. Runs until
 * SIGTERM or SIGINT; with h2, the data in FILE survives a restart.
 */
public final class Main {
    /**
     * mongo-java-server 1.47 says it is MongoDB 5.0 but reports wire version 8, and
     * PyMongo 4.20 refuses anything below 9: report 5.0's own wire version, 13.
     */
    private static final MongoVersion MONGO_5_0 = new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(5, 0, 0);
        }

        @Override
        public int getWireVersion() {
            return 13;
        }
    };

    private Main() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        // Every non-unique index the worker declares is accepted and ignored, with a
        // warning each time it is declared: known (README), so not worth a log line.
        System.setProperty(
                "org.slf4j.simpleLogger.log.de.bwaldvogel.mongo.backend.AbstractMongoCollection",
                "error");
        if (args.length < 3) {
            usage();
        }
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        MongoBackend backend = switch (args[2]) {
            case "memory" -> new MemoryBackend();
            case "h2" -> {
                if (args.length < 4) {
                    usage();
                }
                yield new H2Backend(args[3]);
            }
            default -> {
                usage();
                yield null;
            }
        };
        backend.version(MONGO_5_0);
        MongoServer server = new MongoServer(backend);
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow));
        server.bind(host, port);
        System.err.printf("mongo-java-server (%s) listening on %s:%d%n", args[2], host, port);
        Thread.currentThread().join();
    }

    private static void usage() {
        System.err.println("usage: Main HOST PORT memory | Main HOST PORT h2 FILE");
        System.exit(2);
    }
}
