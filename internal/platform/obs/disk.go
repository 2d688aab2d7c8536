package obs

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterStorage adds disk_used_ratio{path} for the file system holding
// dataDir (the SQLite database, its WAL and the scheduled backups) and
// db_size_bytes, read by size (a short query) at each scrape.
func RegisterStorage(r prometheus.Registerer, dataDir string, size func(context.Context) (int64, error)) error {
	disk := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "disk_used_ratio",
		Help:        "Used fraction of the file system holding DATA_DIR (as df counts it).",
		ConstLabels: prometheus.Labels{"path": dataDir},
	}, func() float64 {
		v, _ := diskUsage(dataDir)
		return v
	})
	dbSize := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "db_size_bytes",
		Help: "Size of the database (SQLite pages in use; PostgreSQL pg_database_size).",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := size(ctx)
		if err != nil {
			return 0
		}
		return float64(n)
	})
	for _, c := range []prometheus.Collector{disk, dbSize} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
