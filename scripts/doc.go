// Package scripts holds the repository's shell scripts (run.sh behind
// `make run`, services.sh behind `make test` and .ci/run, fuzz.sh) and the
// Go test that runs run.sh with bash.
package scripts
