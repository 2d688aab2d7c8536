package httpapi

import (
	"context"
	"net"
	"net/http"
)

type ipKey struct{}

// WithClientIP returns ctx carrying the client's IP as the server decided it
// (the peer address, or X-Forwarded-For when the peer is a trusted proxy).
func WithClientIP(ctx context.Context, ip string) context.Context {
	return context.WithValue(ctx, ipKey{}, ip)
}

// ClientIP returns the request's client IP: the one the server middleware
// decided, else the host part of RemoteAddr.
func ClientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(ipKey{}).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
