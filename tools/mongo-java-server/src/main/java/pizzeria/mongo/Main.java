package pizzeria.mongo;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;

/**
 * The project's MongoDB wire-protocol server for local runs and tests: mongo-java-server's
 * memory backend (its H2 file backend was measured far too slow for version-filtered
 * updates), with an optional snapshot file so that data survives a restart.
 *
 * <p>Usage: {@code Main [--host HOST] [--port PORT] [--snapshot FILE] [--snapshot-seconds N]}.
 * With a snapshot, the file is restored before the port is bound, rewritten every N seconds
 * (10 by default) if anything was written since, and written a last time on SIGTERM or
 * SIGINT. Exit codes: 2 for a bad command line, 1 if it cannot start (a snapshot that
 * cannot be restored, a port in use).
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
        // (AbstractMongoDatabase logs it; its errors still show.)
        System.setProperty(
                "org.slf4j.simpleLogger.log.de.bwaldvogel.mongo.backend.AbstractMongoDatabase", "error");
        Options options;
        try {
            options = Options.parse(args);
        } catch (Options.UsageException e) {
            if (e.help) {
                System.out.println(e.getMessage());
                System.exit(0);
            }
            log(e.getMessage());
            System.exit(2);
            return;
        }

        SnapshotBackend backend = new SnapshotBackend();
        backend.version(MONGO_5_0);
        String restored = "no snapshot: the data lives in memory only";
        Path file = null;
        if (options.snapshot() != null) {
            file = options.snapshot().toAbsolutePath().normalize();
            restored = restore(backend, file) + ", rewritten every " + options.snapshotSeconds()
                    + " s after writes";
        }

        MongoServer server = new MongoServer(backend);
        if (file != null) {
            Snapshotter snapshotter = new Snapshotter(backend, file);
            // Before bind, so no acknowledged write can escape the final snapshot. Stop
            // listening first; connected clients' writes then wait on the final snapshot's
            // lock until the process exits, unanswered. (Not server.shutdownNow(): that
            // empties the backend, and a race with the snapshot would save it empty.)
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                server.stopListening();
                snapshotter.stop();
            }, "shutdown"));
            snapshotter.start(options.snapshotSeconds());
        }
        try {
            server.bind(options.host(), options.port());
        } catch (Exception e) {
            // Exception, not RuntimeException: Netty rethrows the checked BindException
            // undeclared, and MongoServer then leaves its event loop running, which would
            // keep this process alive, not listening, forever.
            log("cannot listen on " + options.host() + ":" + options.port() + ": " + e);
            // halt, not exit: nothing can have been written, and the shutdown hook's
            // "final snapshot" line would only confuse.
            Runtime.getRuntime().halt(1);
        }
        long startMillis = System.currentTimeMillis() - ManagementFactory.getRuntimeMXBean().getStartTime();
        log("memory backend listening on " + options.host() + ":" + server.getLocalAddress().getPort()
                + "; " + restored + "; ready " + startMillis + " ms after the JVM started");
        Thread.currentThread().join();
    }

    /** Restores file if it exists, or exits 1 saying why it cannot; returns what it did. */
    private static String restore(SnapshotBackend backend, Path file) {
        // notExists, not !exists: a file that may be there but cannot be checked (no
        // permission) must fail the restore below, not start empty and be overwritten.
        if (Files.notExists(file)) {
            try {
                Files.createDirectories(file.getParent());
            } catch (Exception e) {
                log("cannot create the snapshot's directory " + file.getParent() + ": " + e);
                System.exit(1);
            }
            return "snapshot " + file + " (none yet, starting empty)";
        }
        long start = System.nanoTime();
        try {
            SnapshotFile.Totals totals = backend.restore(file);
            return "snapshot " + file + " (restored " + totals.documents() + " documents in "
                    + totals.collections() + " collections in " + (System.nanoTime() - start) / 1_000_000
                    + " ms)";
        } catch (SnapshotFile.SnapshotException e) {
            // Never start empty over a snapshot: the next snapshot would replace it.
            log("cannot restore the snapshot " + file + ": " + e.getMessage()
                    + "; not starting (move the file away to start empty)");
            System.exit(1);
            return null;
        }
    }

    static void log(String line) {
        System.err.println("mongo-java-server: " + line);
    }
}
