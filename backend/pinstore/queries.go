package pinstore

import (
	"strconv"
	"strings"
)

// Every SQL statement of the package is here, written once with numbered
// placeholders ($1...) that SQLite and PostgreSQL both take.
const (
	qSelectPatron = `SELECT ` + patronCols + ` FROM patrons WHERE id = $1`

	qInsertPatron = `INSERT INTO patrons (` + patronCols + `) VALUES (
	$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
	$21, $22, $23, $24, $25, $26, $27)`

	// qUpdatePatron writes every column but id and created_at; callers hold
	// the write transaction that read the row.
	qUpdatePatron = `UPDATE patrons SET uuid = $2, name = $3, given_name = $4, surname = $5, email = $6,
	category = $7, institution = $8, status = $9, active_from = $10, expires = $11, pin_hash = $12,
	must_change = $13, failure_count = $14, first_failure_at = $15, last_failure_at = $16,
	last_failure_addr = $17, locked_until = $18, last_success_at = $19, generation = $20,
	superseded_by = $21, superseded_at = $22, suspended_by = $23, suspended_at = $24,
	suspend_reason = $25, created_at = $26, modified_at = $27 WHERE id = $1`

	qDeletePatron = `DELETE FROM patrons WHERE id = $1`

	// qRecordFailure counts one wrong PIN atomically. $1 id, $2 now,
	// $3 window start (failures before it no longer count), $4 client
	// address, $5 max failures (0 = no lockout), $6 lock end. The count
	// restarts when the window has passed or after a lock that has ended. A
	// locked (or no longer active) account is not counted: no row returned.
	qRecordFailure = `UPDATE patrons SET
	failure_count = CASE WHEN ` + failureRestart + ` THEN 1 ELSE failure_count + 1 END,
	first_failure_at = CASE WHEN ` + failureRestart + ` THEN $2 ELSE first_failure_at END,
	last_failure_at = $2,
	last_failure_addr = $4,
	locked_until = CASE WHEN ` + failureLocks + ` THEN CAST($6 AS BIGINT) ELSE NULL END,
	generation = CASE WHEN ` + failureLocks + ` THEN generation + 1 ELSE generation END
WHERE id = $1 AND status = 'active' AND (locked_until IS NULL OR locked_until <= $2)
RETURNING failure_count, locked_until, generation`

	failureRestart = `(first_failure_at IS NULL OR first_failure_at < $3 OR locked_until IS NOT NULL)`
	failureLocks   = `($5 > 0 AND (CASE WHEN ` + failureRestart + ` THEN 1 ELSE failure_count + 1 END) >= $5)`

	// qRecordSuccess clears the failures of a right PIN and stores a rehash
	// ($4, NULL = keep). $3 is the generation the bind saw: when it has
	// changed (locked, suspended, PIN changed meanwhile) nothing is updated.
	qRecordSuccess = `UPDATE patrons SET failure_count = 0, first_failure_at = NULL, locked_until = NULL,
	last_success_at = $2, pin_hash = COALESCE($4, pin_hash)
WHERE id = $1 AND generation = $3`

	qRepointSuperseded = `UPDATE patrons SET superseded_by = $2 WHERE superseded_by = $1`

	qInsertHistory = `INSERT INTO card_history (old_id, new_id, at, operator) VALUES ($1, $2, $3, $4)`

	qInsertAudit = `INSERT INTO staff_audit (at, operator, action, patron_id, detail, addr) VALUES ($1, $2, $3, $4, $5, $6)`

	qSelectAudit = `SELECT at, operator, action, patron_id, detail, addr FROM staff_audit
WHERE patron_id = $1 ORDER BY seq DESC LIMIT $2`

	qSelectAuditByOperator = `SELECT at, operator, action, patron_id, detail, addr FROM staff_audit
WHERE operator = $1 ORDER BY seq DESC LIMIT $2`

	qSelectHistory = `SELECT old_id, new_id, at, operator FROM card_history
WHERE old_id = $1 OR new_id = $1 ORDER BY seq`

	qSelectExport = `SELECT ` + patronCols + ` FROM patrons ORDER BY id`

	qMaxChange     = `SELECT COALESCE(MAX(seq), 0) FROM changes`
	qSelectChanges = `SELECT seq, id FROM changes WHERE seq > $1 ORDER BY seq LIMIT 1000`
	qPruneChanges  = `DELETE FROM changes WHERE at < $1`

	qCreateMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	applied_at BIGINT  NOT NULL
)`
	qMaxMigration    = `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`
	qInsertMigration = `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`
)

// listQuery builds the SELECT of ListPatrons with only the filters given.
func listQuery(o ListOptions, noLimit any) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	if o.Prefix != "" {
		args = append(args, o.Prefix)
		n := strconv.Itoa(len(args))
		where = append(where, "substr(id, 1, length(CAST($"+n+" AS TEXT))) = CAST($"+n+" AS TEXT)")
	}
	if o.Category != "" {
		add("category = $?", o.Category)
	}
	if o.Status != "" {
		add("status = $?", string(o.Status))
	}
	if o.After != "" {
		add("id > $?", o.After)
	}
	q := `SELECT ` + patronCols + ` FROM patrons`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id"
	var limit any = o.Limit
	if o.Limit <= 0 {
		limit = noLimit // -1 on SQLite, NULL on PostgreSQL
	}
	args = append(args, limit, max(o.Offset, 0))
	q += " LIMIT $" + strconv.Itoa(len(args)-1) + " OFFSET $" + strconv.Itoa(len(args))
	return q, args
}
