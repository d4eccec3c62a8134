"""MongoDB adapters on PyMongo's AsyncMongoClient."""
