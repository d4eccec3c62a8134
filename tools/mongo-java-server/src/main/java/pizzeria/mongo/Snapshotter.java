package pizzeria.mongo;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Writes the backend's snapshot every N seconds if anything was written since the last
 * one, and a last time on shutdown. Quiet while it works: it logs failures (once per
 * distinct reason), the recovery after one, and the final snapshot.
 */
final class Snapshotter {
    private final SnapshotBackend backend;
    private final Path file;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(task -> {
        Thread thread = new Thread(task, "snapshot");
        thread.setDaemon(true);
        return thread;
    });
    private String lastFailure;
    /** How long the last snapshot held back writes (the dump; fsync and rename come after). */
    private long heldMillis;

    Snapshotter(SnapshotBackend backend, Path file) {
        this.backend = backend;
        this.file = file;
    }

    void start(int seconds) {
        // Fixed delay, not rate: a slow snapshot never queues another right behind it.
        timer.scheduleWithFixedDelay(this::periodic, seconds, seconds, TimeUnit.SECONDS);
    }

    /** The final snapshot; afterwards no write command runs again in this process. */
    void stop() {
        timer.shutdown();
        long start = System.nanoTime();
        try {
            SnapshotFile.Writer written = snapshot(true);
            if (written == null) {
                Main.log("stopping; nothing written since the last snapshot (" + file + ")");
            } else {
                Main.log("stopping; snapshot of " + written.documents() + " documents in "
                        + written.collections() + " collections written to " + file + " in "
                        + millis(start) + " ms (writes held back for " + heldMillis + " ms)");
            }
        } catch (Throwable e) {
            Main.log("stopping; the final snapshot to " + file + " FAILED, changes since the last one are lost: " + e);
            Runtime.getRuntime().halt(1);
        }
    }

    private void periodic() {
        try {
            snapshot(false);
            if (lastFailure != null) {
                Main.log("snapshot to " + file + " written again");
                lastFailure = null;
            }
        } catch (Throwable e) {
            // Throwing would cancel the schedule; log and try again next period instead
            // (an OutOfMemoryError included: the next period may have the memory).
            if (!e.toString().equals(lastFailure)) {
                Main.log("snapshot to " + file + " failed (retrying every period): " + e);
                lastFailure = e.toString();
            }
        }
    }

    /** Synchronized: the periodic and the final snapshot share FILE.tmp. */
    private synchronized SnapshotFile.Writer snapshot(boolean last) throws IOException {
        if (!last && !backend.written()) {
            return null; // idle: no lock, no file touched
        }
        long start = System.nanoTime();
        SnapshotFile.Writer out = backend.dumpIfWritten(file, last);
        heldMillis = millis(start);
        if (out == null) {
            return null;
        }
        try (out) {
            out.commit();
        } catch (Throwable e) {
            backend.markWritten();
            throw e;
        }
        return out;
    }

    private static long millis(long start) {
        return (System.nanoTime() - start) / 1_000_000;
    }
}
