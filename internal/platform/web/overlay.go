package web

import (
	"fmt"
	"io/fs"
	"testing/fstest"
)

// Overlay merges template folders into one FS for RendererOptions.Templates:
// a product's pages plus the pages of platform packages (sign-in, …). Where
// two hold the same path, the first wins, so a product can replace a
// platform page.
func Overlay(fss ...fs.FS) (fs.FS, error) {
	out := fstest.MapFS{}
	for _, fsys := range fss {
		err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if _, ok := out[p]; ok {
				return nil
			}
			b, err := fs.ReadFile(fsys, p)
			if err != nil {
				return err
			}
			out[p] = &fstest.MapFile{Data: b, Mode: 0o444}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("web: overlay templates: %w", err)
		}
	}
	return out, nil
}
