-- Write-ahead logging lets readers work beside the one writer, and with synchronous=NORMAL it
-- measured about 8x faster writes than the default rollback journal with a sync per commit.
-- The database file keeps WAL mode once set; synchronous is per connection, so every backend
-- also sets it when it opens a connection (storage::migrate::CONNECTION_PRAGMAS).
-- Not transactional: journal_mode cannot change inside a transaction.
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
