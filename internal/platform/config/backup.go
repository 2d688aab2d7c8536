package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// backupProblems checks the backup and database-monitoring settings.
func (c *Config) backupProblems() []string {
	var p []string
	if u := strings.TrimSpace(c.BackupReplicaURL); u != "" {
		if strings.HasPrefix(c.DatabaseURL, "postgres") {
			p = append(p, "BACKUP_REPLICA_URL: continuous replication is for the embedded SQLite database; with PostgreSQL use its own point-in-time recovery (WAL archiving, or your provider's) and the scheduled backup job (BACKUP_DIR)")
		} else if msg := replicaURLProblem(u); msg != "" {
			p = append(p, "BACKUP_REPLICA_URL: "+msg)
		}
	}
	if c.BackupRetention < time.Hour {
		p = append(p, fmt.Sprintf("BACKUP_RETENTION=%s: must be at least 1h (such as 168h for 7 days)", c.BackupRetention))
	}
	if c.BackupSyncInterval < 50*time.Millisecond || c.BackupSyncInterval > 10*time.Minute {
		p = append(p, fmt.Sprintf("BACKUP_SYNC_INTERVAL=%s: must be between 50ms and 10m (such as 500ms)", c.BackupSyncInterval))
	}
	if !ValidSchedule(c.BackupSchedule) {
		p = append(p, fmt.Sprintf("BACKUP_SCHEDULE=%q: must be a five-field cron schedule in UTC (minute hour day-of-month month day-of-week), such as \"30 2 * * *\" for daily at 02:30", c.BackupSchedule))
	}
	if c.BackupKeep < 1 || c.BackupKeep > 1000 {
		p = append(p, fmt.Sprintf("BACKUP_KEEP=%d: must be between 1 and 1000 backups", c.BackupKeep))
	}
	if c.SlowQueryMS < 1 {
		p = append(p, fmt.Sprintf("SLOW_QUERY_MS=%d: must be at least 1 millisecond (such as 500)", c.SlowQueryMS))
	}
	return p
}

// replicaURLProblem says what is wrong with a replica URL, or "".
func replicaURLProblem(raw string) string {
	if !strings.Contains(raw, "://") {
		return "" // a local folder
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "not a URL; use a folder, file:///path or s3://bucket/path"
	}
	switch u.Scheme {
	case "file":
		if u.Path == "" {
			return "file:// needs a path, such as file:///var/backups/coda"
		}
	case "s3":
		if u.Host == "" {
			return "s3:// needs a bucket, such as s3://my-bucket/coda?region=eu-west-1"
		}
		if e := u.Query().Get("endpoint"); e != "" && !strings.Contains(e, "://") && strings.Contains(e, "/") {
			return "endpoint= must be a host or URL such as https://s3.example.com"
		}
	default:
		return fmt.Sprintf("scheme %q is not supported; use a folder, file:///path or s3://bucket/path (S3-compatible servers with ?endpoint=)", u.Scheme)
	}
	return ""
}

// ValidSchedule reports whether s looks like a five-field cron schedule
// (the scheduler checks each field's range when the job is registered).
func ValidSchedule(s string) bool {
	f := strings.Fields(s)
	if len(f) != 5 {
		return false
	}
	for _, x := range f {
		if strings.Trim(x, "0123456789*/,-") != "" {
			return false
		}
	}
	return true
}
