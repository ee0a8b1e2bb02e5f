package migrations

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// File is one embedded migration file.
type File struct {
	Version   uint
	Name      string
	Direction string // "up" or "down"
	Path      string
}

var fileName = regexp.MustCompile(`^(\d+)_(\w+)\.(up|down)\.sql$`)

// ListFiles lists the migration files in fsys ordered by version, up before
// down.
func ListFiles(fsys fs.FS) ([]File, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var list []File
	for _, entry := range entries {
		if entry.IsDir() || !strings.HasSuffix(entry.Name(), ".sql") {
			continue
		}
		match := fileName.FindStringSubmatch(entry.Name())
		if match == nil {
			return nil, fmt.Errorf("migration file %q does not match NNNNNN_name.up.sql or NNNNNN_name.down.sql", entry.Name())
		}
		version, err := strconv.ParseUint(match[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("migration file %q: %w", entry.Name(), err)
		}
		list = append(list, File{Version: uint(version), Name: match[2], Direction: match[3], Path: entry.Name()})
	}
	slices.SortFunc(list, func(a, b File) int {
		if a.Version != b.Version {
			return int(a.Version) - int(b.Version)
		}
		if a.Direction == b.Direction {
			return 0
		}
		if a.Direction == "up" {
			return -1
		}
		return 1
	})
	return list, nil
}

// versions lists the versions of the migrations in list, in order.
func versions(list []File) []uint {
	var versions []uint
	for _, f := range list {
		if f.Direction == "up" {
			versions = append(versions, f.Version)
		}
	}
	return versions
}

// ReadFile returns the content of a migration file in fsys.
func ReadFile(fsys fs.FS, f File) (string, error) {
	data, err := fs.ReadFile(fsys, f.Path)
	if err != nil {
		return "", err
	}
	return string(data), nil
}

// Versions lists the versions of the migrations in fsys, in order.
func Versions(fsys fs.FS) []uint {
	list, err := ListFiles(fsys)
	if err != nil {
		return nil
	}
	return versions(list)
}

// Latest returns the newest version in fsys, 0 when there is none.
func Latest(fsys fs.FS) uint {
	all := Versions(fsys)
	if len(all) == 0 {
		return 0
	}
	return all[len(all)-1]
}
