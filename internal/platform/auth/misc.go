package auth

import (
	"net/url"
	"strconv"
)

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func itoa(n int) string { return strconv.Itoa(n) }
