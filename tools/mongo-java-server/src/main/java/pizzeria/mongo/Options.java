package pizzeria.mongo;

import java.nio.file.Path;

/**
 * The launcher's command line:
 * {@code --host HOST --port PORT [--snapshot FILE] [--snapshot-seconds N]}.
 *
 * @param snapshot where the data is kept between runs, or null to keep it in memory only
 */
record Options(String host, int port, Path snapshot, int snapshotSeconds) {

    static final String USAGE =
            "usage: pizzeria.mongo.Main [--host HOST] [--port PORT] [--snapshot FILE] [--snapshot-seconds N]"
                    + " (defaults: 127.0.0.1, 27017, no snapshot, 10)";

    /** A command line that cannot be run (or asks for help); its message is the one line to print. */
    static final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        final boolean help;

        UsageException(String message) {
            this(message, false);
        }

        UsageException(String message, boolean help) {
            super(message);
            this.help = help;
        }
    }

    static Options parse(String[] args) throws UsageException {
        String host = "127.0.0.1";
        int port = 27017;
        Path snapshot = null;
        Integer seconds = null;
        for (int i = 0; i < args.length; i++) {
            String option = args[i];
            if (option.equals("-h") || option.equals("--help")) {
                throw new UsageException(USAGE, true);
            }
            if (i + 1 == args.length) {
                throw new UsageException(option.startsWith("--")
                        ? option + " needs a value; " + USAGE
                        : "unexpected argument " + quoted(option) + "; " + USAGE);
            }
            String value = args[++i];
            if (value.startsWith("--")) {
                throw new UsageException(option + " needs a value before " + value);
            }
            switch (option) {
                case "--host" -> host = nonEmpty(option, value);
                case "--port" -> port = number(option, value, 0, 65535);
                case "--snapshot" -> snapshot = Path.of(nonEmpty(option, value));
                case "--snapshot-seconds" -> seconds = number(option, value, 1, 86400);
                default -> throw new UsageException("unknown option " + quoted(option) + "; " + USAGE);
            }
        }
        // Said on its own it would silently do nothing: better to say so at once.
        if (seconds != null && snapshot == null) {
            throw new UsageException("--snapshot-seconds needs --snapshot FILE");
        }
        return new Options(host, port, snapshot, seconds == null ? 10 : seconds);
    }

    private static String nonEmpty(String option, String value) throws UsageException {
        if (value.isBlank()) {
            throw new UsageException(option + " needs a value, not an empty string");
        }
        return value;
    }

    private static int number(String option, String value, int min, int max) throws UsageException {
        try {
            int number = Integer.parseInt(value);
            if (number >= min && number <= max) {
                return number;
            }
        } catch (NumberFormatException e) {
            // said below
        }
        throw new UsageException(option + " takes a whole number from " + min + " to " + max
                + ", not " + quoted(value));
    }

    private static String quoted(String value) {
        return "'" + value + "'";
    }
}
