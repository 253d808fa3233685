package pinstore

// Schema migrations, applied in order at Open, each in its own transaction
// and recorded in schema_migrations. Never edit a released migration: add
// one. Times are INTEGER milliseconds since the Unix epoch (UTC), so the same
// comparisons work on every engine; booleans are INTEGER 0/1.
var sqliteMigrations = []string{
	// 1: the whole life cycle.
	`CREATE TABLE patrons (
	id                TEXT    PRIMARY KEY,
	uuid              TEXT    NOT NULL,
	name              TEXT    NOT NULL DEFAULT '',
	given_name        TEXT    NOT NULL DEFAULT '',
	surname           TEXT    NOT NULL DEFAULT '',
	email             TEXT    NOT NULL DEFAULT '',
	category          TEXT    NOT NULL DEFAULT '',
	institution       TEXT    NOT NULL DEFAULT '',
	status            TEXT    NOT NULL DEFAULT 'active'
	                  CHECK (status IN ('active', 'suspended', 'expired', 'superseded')),
	active_from       BIGINT,
	expires           BIGINT,
	pin_hash          TEXT,
	must_change       INTEGER NOT NULL DEFAULT 0,
	failure_count     INTEGER NOT NULL DEFAULT 0,
	first_failure_at  BIGINT,
	last_failure_at   BIGINT,
	last_failure_addr TEXT    NOT NULL DEFAULT '',
	locked_until      BIGINT,
	last_success_at   BIGINT,
	generation        BIGINT  NOT NULL DEFAULT 1,
	superseded_by     TEXT,
	superseded_at     BIGINT,
	suspended_by      TEXT    NOT NULL DEFAULT '',
	suspended_at      BIGINT,
	suspend_reason    TEXT    NOT NULL DEFAULT '',
	created_at        BIGINT  NOT NULL,
	modified_at       BIGINT  NOT NULL
);
CREATE INDEX patrons_uuid ON patrons (uuid);
CREATE INDEX patrons_category ON patrons (category);
CREATE INDEX patrons_superseded_by ON patrons (superseded_by);
CREATE TABLE card_history (
	seq      INTEGER PRIMARY KEY,
	old_id   TEXT    NOT NULL,
	new_id   TEXT    NOT NULL,
	at       BIGINT  NOT NULL,
	operator TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX card_history_old ON card_history (old_id);
CREATE INDEX card_history_new ON card_history (new_id);
CREATE TABLE staff_audit (
	seq       INTEGER PRIMARY KEY,
	at        BIGINT  NOT NULL,
	operator  TEXT    NOT NULL,
	action    TEXT    NOT NULL,
	patron_id TEXT    NOT NULL DEFAULT '',
	detail    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX staff_audit_patron ON staff_audit (patron_id, seq);`,

	// 2: the changes journal. Every generation bump (and every new or
	// deleted patron) adds a row in the same transaction, by trigger, so no
	// writer (this process, binderyctl, a future one) can forget it. Other
	// processes' caches poll it (Options.WatchChanges). at is real time in
	// milliseconds, for pruning.
	`CREATE TABLE changes (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	id  TEXT    NOT NULL,
	at  BIGINT  NOT NULL
);
CREATE TRIGGER patrons_changes_update AFTER UPDATE OF generation ON patrons
WHEN NEW.generation IS NOT OLD.generation
BEGIN
	INSERT INTO changes (id, at) VALUES (NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER patrons_changes_insert AFTER INSERT ON patrons
BEGIN
	INSERT INTO changes (id, at) VALUES (NEW.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;
CREATE TRIGGER patrons_changes_delete AFTER DELETE ON patrons
BEGIN
	INSERT INTO changes (id, at) VALUES (OLD.id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER));
END;`,

	// 3: indexes for listings (Store.Search): case-insensitive equality and
	// prefix look-ups on the ID, the name and the e-mail address.
	`CREATE INDEX patrons_lower_id ON patrons (lower(id));
CREATE INDEX patrons_lower_name ON patrons (lower(name));
CREATE INDEX patrons_lower_email ON patrons (lower(email));`,

	// 4: one-time set-up codes for the self-service PIN page (setupcode.go).
	// One code per ID; code_hash is HMAC-SHA256(salt, code) in hex;
	// patron_uuid ties the code to the person (a deleted and re-added ID does
	// not inherit it).
	`CREATE TABLE setup_codes (
	id          TEXT   PRIMARY KEY,
	patron_uuid TEXT   NOT NULL,
	salt        TEXT   NOT NULL,
	code_hash   TEXT   NOT NULL,
	issued_at   BIGINT NOT NULL,
	expires_at  BIGINT NOT NULL,
	issued_by   TEXT   NOT NULL DEFAULT ''
);`,

	// 5: the client address of each staff action (the counter desk's
	// browser, the self-service page's patron; empty for binderyctl), and
	// an index to list what one operator did (the staff console's
	// activity page).
	`ALTER TABLE staff_audit ADD COLUMN addr TEXT NOT NULL DEFAULT '';
CREATE INDEX staff_audit_operator ON staff_audit (operator, seq);`,

	// 6: the uidNumbers of the POSIX view (posixnumbers.go). A row is never
	// deleted: a number stays retired after its account is gone, so it is
	// never given to someone else. id is the account's login ID when last
	// seen, for reverse look-ups (uidNumber=N).
	`CREATE TABLE posix_uids (
	uid_number  BIGINT PRIMARY KEY,
	uuid        TEXT   NOT NULL UNIQUE,
	id          TEXT   NOT NULL,
	assigned_at BIGINT NOT NULL
);`,
}
