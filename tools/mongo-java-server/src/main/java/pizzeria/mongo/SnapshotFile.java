package pizzeria.mongo;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;

import de.bwaldvogel.mongo.bson.Document;
import de.bwaldvogel.mongo.wire.BsonConstants;
import de.bwaldvogel.mongo.wire.bson.BsonDecoder;
import de.bwaldvogel.mongo.wire.bson.BsonEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;

/**
 * The snapshot file: nothing but BSON documents one after another (so {@code bsondump} or
 * PyMongo's {@code bson.decode_file_iter} can read it), encoded with the server's own codec
 * so that every value comes back exactly as the backend held it:
 *
 * <pre>
 * {"pizzeria-mongo-snapshot": 1, "written": date}                     header: format version 1
 * {"database": D, "collection": C, "indexes": [...], "documents": N}  one per collection, then
 * N documents of D.C, as stored                                       its documents
 * ...
 * {"end": true, "collections": K, "documents": T, "crc32": X}         trailer
 * </pre>
 *
 * <p>{@code indexes} are {@code listIndexes} entries without the {@code _id_} one, so they
 * go straight back into {@code createIndexes}. {@code crc32} covers every byte before the
 * trailer: a truncated or altered file is refused whole instead of being restored in part.
 */
final class SnapshotFile {
    static final String FORMAT = "pizzeria-mongo-snapshot";
    static final int VERSION = 1;

    /** Restores insert this many documents per command: few commands, small garbage. */
    private static final int BATCH = 1000;

    private SnapshotFile() {}

    /** A snapshot that cannot be restored; the message says why, in one line. */
    static final class SnapshotException extends Exception {
        private static final long serialVersionUID = 1L;

        SnapshotException(String message) {
            super(message);
        }
    }

    /** What a restore is fed, collection by collection; it may throw to refuse the file. */
    interface Sink {
        void collection(String database, String collection, List<Document> indexes);

        void documents(String database, String collection, List<Document> batch);
    }

    record Totals(int collections, long documents) {}

    /** Reads the whole file into sink, or says why it cannot. */
    static Totals read(Path file, Sink sink) throws SnapshotException {
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            return new Reader(in).readInto(sink);
        } catch (NoSuchFileException e) {
            throw new SnapshotException("no such file");
        } catch (IOException e) {
            throw new SnapshotException(e.getClass().getSimpleName() + ": " + e.getMessage());
        } catch (RuntimeException e) {
            // A field of the wrong type, a BSON value the decoder refuses, a document the
            // backend refuses (a duplicate key, a collection twice): all mean "not this file".
            throw new SnapshotException("unreadable: "
                    + (e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName()));
        }
    }

    private static final class Reader {
        private final InputStream in;
        private final CRC32 crc = new CRC32();
        /** The checksum of the file up to the record last read: what a trailer must say. */
        private long crcBefore;

        Reader(InputStream in) {
            this.in = in;
        }

        Totals readInto(Sink sink) throws IOException, SnapshotException {
            Document header = next();
            if (header == null || !header.containsKey(FORMAT)) {
                throw new SnapshotException("not a pizzeria-mongo snapshot (no header)");
            }
            if (!Integer.valueOf(VERSION).equals(header.get(FORMAT))) {
                throw new SnapshotException("snapshot format " + header.get(FORMAT)
                        + ", this launcher reads format " + VERSION);
            }
            int collections = 0;
            long documents = 0;
            while (true) {
                Document record = next();
                if (record == null) {
                    throw new SnapshotException("truncated (no end record after " + collections
                            + " collections, " + documents + " documents)");
                }
                if (record.containsKey("end")) {
                    check(record, collections, documents);
                    if (next() != null) {
                        throw new SnapshotException("data after the end record");
                    }
                    return new Totals(collections, documents);
                }
                String database = (String) record.get("database");
                String collection = (String) record.get("collection");
                long count = ((Number) record.get("documents")).longValue();
                @SuppressWarnings("unchecked")
                List<Document> indexes = (List<Document>) record.get("indexes");
                if (database == null || collection == null || indexes == null || count < 0) {
                    throw new SnapshotException("a collection record lacks database, collection,"
                            + " indexes or documents: " + record);
                }
                sink.collection(database, collection, indexes);
                List<Document> batch = new ArrayList<>(BATCH);
                for (long i = 0; i < count; i++) {
                    Document document = next();
                    if (document == null) {
                        throw new SnapshotException("truncated inside " + database + "." + collection);
                    }
                    batch.add(document);
                    if (batch.size() == BATCH || i == count - 1) {
                        sink.documents(database, collection, batch);
                        batch = new ArrayList<>(BATCH);
                    }
                }
                collections++;
                documents += count;
            }
        }

        private void check(Document end, int collections, long documents) throws SnapshotException {
            long crc32 = ((Number) end.get("crc32")).longValue();
            if (crc32 != crcBefore) {
                throw new SnapshotException("checksum mismatch (the file was altered or damaged)");
            }
            if (((Number) end.get("collections")).intValue() != collections
                    || ((Number) end.get("documents")).longValue() != documents) {
                throw new SnapshotException("the end record counts " + end.get("collections")
                        + " collections and " + end.get("documents") + " documents, the file holds "
                        + collections + " and " + documents);
            }
        }

        /** The next document, or null at a clean end of file. */
        private Document next() throws IOException, SnapshotException {
            byte[] size = in.readNBytes(4);
            if (size.length == 0) {
                return null;
            }
            if (size.length < 4) {
                throw new SnapshotException("truncated (a record is cut short)");
            }
            int length = (size[0] & 0xff) | (size[1] & 0xff) << 8 | (size[2] & 0xff) << 16 | (size[3] & 0xff) << 24;
            if (length < 5 || length > BsonConstants.MAX_BSON_OBJECT_SIZE) {
                throw new SnapshotException("not BSON (a record claims " + length + " bytes)");
            }
            byte[] bytes = new byte[length];
            System.arraycopy(size, 0, bytes, 0, 4);
            int read = in.readNBytes(bytes, 4, length - 4);
            if (read < length - 4) {
                throw new SnapshotException("truncated (a record is cut short)");
            }
            ByteBuf buffer = Unpooled.wrappedBuffer(bytes);
            Document document = BsonDecoder.decodeBson(buffer);
            if (buffer.isReadable()) {
                throw new SnapshotException("not BSON (a record ends before its length says)");
            }
            crcBefore = crc.getValue();
            crc.update(bytes);
            return document;
        }
    }

    /**
     * A snapshot being written: to FILE.tmp next to the file, which {@link #commit} fsyncs
     * and renames over the file, so a crash at any moment leaves the old snapshot or the new
     * one, never half of one. Closing it uncommitted deletes the temporary file.
     */
    static final class Writer implements Closeable {
        private final Path file;
        private final Path temporary;
        private final FileChannel channel;
        private final OutputStream out;
        private final CRC32 crc = new CRC32();
        private final ByteBuf buffer = Unpooled.buffer(1 << 16);
        private int collections;
        private long documents;
        private long expected;
        private boolean committed;

        Writer(Path file) throws IOException {
            this.file = file;
            this.temporary = file.resolveSibling(file.getFileName() + ".tmp");
            this.channel = FileChannel.open(temporary, StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
            this.out = new BufferedOutputStream(Channels.newOutputStream(channel), 1 << 16);
            try {
                record(new Document(FORMAT, VERSION).append("written", Instant.now()), true);
            } catch (IOException | RuntimeException e) {
                close();
                throw e;
            }
        }

        void collection(String database, String collection, List<Document> indexes, long count)
                throws IOException {
            checkCount();
            record(new Document("database", database).append("collection", collection)
                    .append("indexes", indexes).append("documents", count), true);
            collections++;
            expected = count;
        }

        void document(Document document) throws IOException {
            record(document, true);
            documents++;
            expected--;
        }

        /** Writes the trailer and hands everything to the operating system (no fsync yet). */
        void finish() throws IOException {
            checkCount();
            record(new Document("end", true).append("collections", collections)
                    .append("documents", documents).append("crc32", crc.getValue()), false);
            out.flush();
        }

        /** Makes the finished snapshot durable and puts it in place of the old one. */
        void commit() throws IOException {
            channel.force(true);
            out.close();
            Files.move(temporary, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            committed = true;
            // The rename itself is durable once the directory is synced. Linux allows it;
            // where a directory cannot be opened, the rename still happened, just later on disk.
            try (FileChannel directory = FileChannel.open(file.toAbsolutePath().getParent(), StandardOpenOption.READ)) {
                directory.force(true);
            } catch (IOException e) {
                // best effort, see above
            }
        }

        int collections() {
            return collections;
        }

        long documents() {
            return documents;
        }

        Path file() {
            return file;
        }

        @Override
        public void close() throws IOException {
            if (!committed) {
                try {
                    out.close();
                } finally {
                    Files.deleteIfExists(temporary);
                }
            }
        }

        private void checkCount() throws IOException {
            if (expected != 0) {
                // The caller holds the write lock, so this would be a bug, not a race.
                throw new IOException("a collection's count and its documents differ by " + expected);
            }
        }

        private void record(Document record, boolean checksummed) throws IOException {
            buffer.clear();
            BsonEncoder.encodeDocument(record, buffer);
            int length = buffer.readableBytes();
            if (checksummed) {
                crc.update(buffer.array(), buffer.arrayOffset(), length);
            }
            out.write(buffer.array(), buffer.arrayOffset(), length);
        }
    }
}
