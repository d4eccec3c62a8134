package pizzeria.mongo;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.locks.ReentrantReadWriteLock;

import de.bwaldvogel.mongo.MongoCollection;
import de.bwaldvogel.mongo.MongoDatabase;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import de.bwaldvogel.mongo.bson.Document;
import io.netty.channel.Channel;
import io.netty.channel.embedded.EmbeddedChannel;

/**
 * The memory backend, plus what snapshots need: it notices writes, and it dumps and
 * restores its databases through its own command handlers, in this process (no socket,
 * no driver). So a restore is complete before the server binds its port, and a dump,
 * which holds back write commands on the server's event-loop threads, never needs those
 * threads itself (a dump through a client on the port could deadlock against them).
 */
final class SnapshotBackend extends MemoryBackend {

    /**
     * Every command that changes data, as mongo-java-server 1.47.0 dispatches them
     * (AbstractMongoBackend.handleCommand and handleAdminCommand, AbstractMongoDatabase.handleCommand):
     * re-check that list when upgrading. It matches names ignoring case, and so does this.
     * {@code aggregate} writes only with $out or $merge, see {@link #isWrite}.
     */
    private static final Set<String> WRITES = caseInsensitive("insert", "update", "delete",
            "findAndModify", "create", "drop", "dropDatabase", "createIndexes", "dropIndexes",
            "renameCollection");

    /** The server's own databases: nothing of the project's lives there. */
    private static final Set<String> SKIPPED = Set.of("admin", "local", "config");

    /**
     * Write commands share it; a dump takes it alone, so a snapshot never holds half of a
     * command (half of an insertMany, say), and no two collections from different moments.
     * Reads never take it.
     */
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();

    /** Set by each write command, under the lock; cleared by the dump that saw it. */
    private volatile boolean written;

    /** The client that dumps and restores: a channel that goes nowhere. */
    private final Channel internal = new EmbeddedChannel();

    @Override
    public Document handleCommand(Channel channel, String database, String command, Document query) {
        if (!isWrite(command, query)) {
            return super.handleCommand(channel, database, command, query);
        }
        lock.readLock().lock();
        try {
            return super.handleCommand(channel, database, command, query);
        } finally {
            // Even when it failed: an ordered insert can fail half way, having written.
            written = true;
            lock.readLock().unlock();
        }
    }

    private static boolean isWrite(String command, Document query) {
        if (WRITES.contains(command)) {
            return true;
        }
        if (command.equalsIgnoreCase("aggregate") && query.get("pipeline") instanceof List<?> stages) {
            for (Object stage : stages) {
                if (stage instanceof Map<?, ?> map && (map.containsKey("$out") || map.containsKey("$merge"))) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Whether a write command ran since the last dump: cheap, no lock. */
    boolean written() {
        return written;
    }

    /** After a dump whose file could not be committed: the next period must try again. */
    void markWritten() {
        written = true;
    }

    /**
     * If a write ran since the last dump, dumps every database but admin, local and config
     * into a new snapshot of file, with writes held back, and returns it finished but not
     * committed (the fsync and the rename need no lock). Returns null if nothing was written.
     *
     * <p>With {@code last}, the lock is never released: a write that comes after the final
     * snapshot waits until the process exits, so no client is told "done" for a write the
     * snapshot does not hold.
     */
    SnapshotFile.Writer dumpIfWritten(Path file, boolean last) throws IOException {
        lock.writeLock().lock();
        try {
            if (!written) {
                return null;
            }
            SnapshotFile.Writer out = new SnapshotFile.Writer(file);  // may fail: still written
            written = false;
            try {
                dumpTo(out);
                out.finish();
                return out;
            } catch (Throwable e) {
                written = true;
                out.close();
                throw e;
            }
        } finally {
            if (!last) {
                lock.writeLock().unlock();
            }
        }
    }

    private void dumpTo(SnapshotFile.Writer out) throws IOException {
        for (String database : new TreeSet<>(listDatabaseNames())) {
            if (SKIPPED.contains(database)) {
                continue;
            }
            MongoDatabase db = resolveDatabase(database);
            for (Document listed : cursor(database, new Document("listCollections", 1))) {
                String name = (String) listed.get("name");
                MongoCollection<?> collection = db.resolveCollection(name, false);
                if (collection == null) {
                    continue;
                }
                List<Document> indexes = new ArrayList<>();
                for (Document index : cursor(database, new Document("listIndexes", name))) {
                    if (!"_id_".equals(index.get("name"))) {
                        indexes.add(index);
                    }
                }
                out.collection(database, name, indexes, collection.count());
                for (Document document : collection.queryAll()) {
                    out.document(document);
                }
            }
        }
    }

    /**
     * Restores file into this backend, which must be empty and not yet serving: a
     * {@code create}, a {@code createIndexes} and {@code insert}s of a thousand documents per
     * collection, through the same handlers as a client's commands, so a unique index
     * refuses duplicates after a restart exactly as before it. Does not count as a write.
     */
    SnapshotFile.Totals restore(Path file) throws SnapshotFile.SnapshotException {
        return SnapshotFile.read(file, new SnapshotFile.Sink() {
            @Override
            public void collection(String database, String collection, List<Document> indexes) {
                if (SKIPPED.contains(database)) {
                    throw new IllegalArgumentException("a snapshot never holds database " + database);
                }
                command(database, new Document("create", collection));
                if (!indexes.isEmpty()) {
                    command(database, new Document("createIndexes", collection).append("indexes", indexes));
                }
            }

            @Override
            public void documents(String database, String collection, List<Document> batch) {
                command(database, new Document("insert", collection).append("documents", batch)
                        .append("ordered", true));
            }
        });
    }

    /** Runs a command as the internal client, bypassing the write tracking; refuses any error. */
    private Document command(String database, Document command) {
        String name = command.keySet().iterator().next();
        Document reply = super.handleCommand(internal, database, name, command);
        if (reply.get("writeErrors") instanceof List<?> errors && !errors.isEmpty()) {
            Object first = errors.get(0);
            throw new IllegalStateException(name + " into " + database + "." + command.get(name)
                    + " was refused: " + (first instanceof Map<?, ?> error ? error.get("errmsg") : first));
        }
        if (!(reply.get("ok") instanceof Number ok && ok.doubleValue() == 1.0)) {
            throw new IllegalStateException(name + " on " + database + " was refused: " + reply);
        }
        return reply;
    }

    /** A command's cursor, which for listCollections and listIndexes is all in its first batch. */
    @SuppressWarnings("unchecked")
    private List<Document> cursor(String database, Document command) {
        Document cursor = (Document) command(database, command).get("cursor");
        return (List<Document>) cursor.get("firstBatch");
    }

    private static Set<String> caseInsensitive(String... names) {
        Set<String> set = new TreeSet<>(String.CASE_INSENSITIVE_ORDER);
        set.addAll(List.of(names));
        return set;
    }
}
