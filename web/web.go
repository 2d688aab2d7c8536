// Package web holds the front-end sources of Coda and Voyager (TypeScript and
// CSS under src/, npm packages pinned in package.json) and embeds what
// `go run ./tools/assets` builds from them into dist/.
//
// Only dist/ is compiled into the binaries. It is empty in a fresh checkout
// (apart from .keep), so build the assets before `go build`; the page
// renderer (internal/platform/web) refuses to start without a manifest.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Dist returns the built assets, rooted at dist/: manifest.json and the
// content-hashed bundles it names.
func Dist() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub fails only for an invalid path, and "dist" is valid.
		panic(err)
	}
	return sub
}
