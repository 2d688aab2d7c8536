// Package blob keeps files (members' uploads) outside the database: in a
// folder on one machine, or in S3-compatible storage (AWS S3, MinIO, R2,
// B2…) that every instance shares. FILES_URL chooses: file:///path or a
// path for a folder, s3://bucket/prefix?endpoint=…&region=…&path_style=true
// for S3.
package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// ErrNotFound is returned by Get for a missing key.
var ErrNotFound = errors.New("blob not found")

// Store keeps blobs by key (slash-separated, no leading slash).
type Store interface {
	Put(ctx context.Context, key string, data []byte) error
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	String() string
}

// Credentials for S3; empty: the AWS_* environment or the instance's role.
type Credentials struct{ AccessKeyID, SecretAccessKey string }

// Open returns the store raw names ("" is an error: callers keep files
// elsewhere then).
func Open(raw string, cred Credentials) (Store, error) {
	if raw == "" {
		return nil, errors.New("blob: no URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("FILES_URL: %v", err)
	}
	switch u.Scheme {
	case "", "file":
		dir := raw
		if u.Scheme == "file" {
			dir = u.Path
		}
		if dir == "" {
			return nil, errors.New("FILES_URL: give a folder, such as file:///var/lib/voyager/files")
		}
		return &Dir{Path: dir}, nil
	case "s3":
		if u.Host == "" {
			return nil, errors.New("FILES_URL: s3:// needs a bucket, such as s3://my-bucket/voyager-files?region=eu-west-1")
		}
		q := u.Query()
		region := q.Get("region")
		if region == "" {
			region = "us-east-1"
		}
		opts := s3.Options{Region: region, UsePathStyle: q.Get("path_style") == "true" || q.Get("endpoint") != "" && q.Get("path_style") != "false"}
		if ep := q.Get("endpoint"); ep != "" {
			if e, err := url.Parse(ep); err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
				return nil, fmt.Errorf("FILES_URL: endpoint=%q must be an http(s) URL such as https://minio.example.com", ep)
			}
			opts.BaseEndpoint = aws.String(ep)
		}
		if cred.AccessKeyID != "" {
			opts.Credentials = credentials.NewStaticCredentialsProvider(cred.AccessKeyID, cred.SecretAccessKey, "")
		} else if id := os.Getenv("AWS_ACCESS_KEY_ID"); id != "" {
			opts.Credentials = credentials.NewStaticCredentialsProvider(id, os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN"))
		}
		return &S3{client: s3.New(opts), bucket: u.Host, prefix: strings.Trim(u.Path, "/")}, nil
	}
	return nil, fmt.Errorf("FILES_URL: %q: use file:///path or s3://bucket/prefix", u.Scheme)
}

// Dir keeps blobs as files under Path (mode 0600).
type Dir struct{ Path string }

func (d *Dir) file(key string) (string, error) {
	clean := path.Clean("/" + key)[1:]
	if clean == "" || clean != key {
		return "", fmt.Errorf("blob: bad key %q", key)
	}
	return filepath.Join(d.Path, filepath.FromSlash(clean)), nil
}

// Put writes key atomically.
func (d *Dir) Put(_ context.Context, key string, data []byte) error {
	f, err := d.file(key)
	if err != nil {
		return err
	}
	tmp := f + ".tmp"
	// A Delete of the folder's last file removes the folder; one retry
	// covers a Delete that ran between MkdirAll and the write.
	for try := 0; ; try++ {
		if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
			return err
		}
		err := os.WriteFile(tmp, data, 0o600)
		if err == nil {
			err = os.Rename(tmp, f)
		}
		if err == nil || try == 1 || !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
}

// Get reads key.
func (d *Dir) Get(_ context.Context, key string) ([]byte, error) {
	f, err := d.file(key)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(f)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	return b, err
}

// Delete removes key and then every folder above it, up to the root, that
// it left empty: a folder named after a member (community/userID/) must not
// outlive the member's last file.
func (d *Dir) Delete(_ context.Context, key string) error {
	f, err := d.file(key)
	if err != nil {
		return err
	}
	if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	root := filepath.Clean(d.Path)
	for dir := filepath.Dir(f); dir != root && strings.HasPrefix(dir, root+string(filepath.Separator)); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil { // not empty (or already gone): stop
			break
		}
	}
	return nil
}

func (d *Dir) String() string { return "folder " + d.Path }

// S3 keeps blobs in a bucket under a prefix.
type S3 struct {
	client *s3.Client
	bucket string
	prefix string
}

func (s *S3) key(k string) string {
	if s.prefix == "" {
		return k
	}
	return s.prefix + "/" + k
}

// Put uploads key.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(key)), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))})
	if err != nil {
		return fmt.Errorf("s3 put: %w", err)
	}
	return nil
}

// Get downloads key.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(key))})
	var nk *types.NoSuchKey
	if errors.As(err, &nk) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("s3 get: %w", err)
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// Delete removes key.
func (s *S3) Delete(ctx context.Context, key string) error {
	if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.key(key))}); err != nil {
		return fmt.Errorf("s3 delete: %w", err)
	}
	return nil
}

func (s *S3) String() string { return "s3://" + s.bucket + "/" + s.prefix }
