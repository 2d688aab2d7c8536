//go:build !unix

package obs

func diskUsage(string) (float64, bool) { return 0, false }
