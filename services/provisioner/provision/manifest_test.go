package provision

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadManifest(t *testing.T) {
	const valid = "resources:\n  s3: [{BucketName: uploads}]\n"
	tests := []struct {
		name      string
		files     map[string]string // name in the temp dir -> content
		paths     []string          // names in the temp dir, "" for an unset path
		wantFound bool
		wantPath  string
		wantErr   string
		wantEmpty bool
	}{
		{name: "missing everywhere", paths: []string{"config/resources.yml", "other.yml"}},
		{name: "no paths at all", paths: []string{"", ""}},
		{
			name:      "CONFIG_DIR first",
			files:     map[string]string{"config/resources.yml": valid, "other.yml": "resources: {}"},
			paths:     []string{"config/resources.yml", "other.yml"},
			wantFound: true, wantPath: "config/resources.yml",
		},
		{
			name:      "RESOURCES_YML when CONFIG_DIR has none",
			files:     map[string]string{"other.yml": valid},
			paths:     []string{"config/resources.yml", "other.yml"},
			wantFound: true, wantPath: "other.yml",
		},
		{
			name:      "empty form",
			files:     map[string]string{"config/resources.yml": "resources: {}\n"},
			paths:     []string{"config/resources.yml"},
			wantFound: true, wantPath: "config/resources.yml", wantEmpty: true,
		},
		{
			name:      "empty file",
			files:     map[string]string{"config/resources.yml": ""},
			paths:     []string{"config/resources.yml"},
			wantFound: true, wantPath: "config/resources.yml", wantEmpty: true,
		},
		{
			name:    "malformed YAML names file and line",
			files:   map[string]string{"config/resources.yml": "resources:\n  s3:\n\t- BucketName: uploads\n"},
			paths:   []string{"config/resources.yml", "other.yml"},
			wantErr: "resources.yml:3: invalid YAML",
		},
		{
			name:    "invalid entry names file, line and field",
			files:   map[string]string{"config/resources.yml": "resources:\n  dynamodb:\n    - TableName: items\n"},
			paths:   []string{"config/resources.yml"},
			wantErr: "resources.yml:3:7: resources.dynamodb[0].KeySchema: must not be empty",
		},
		{
			name:    "a malformed first file is not skipped for the second",
			files:   map[string]string{"config/resources.yml": "resources: [", "other.yml": valid},
			paths:   []string{"config/resources.yml", "other.yml"},
			wantErr: "invalid YAML",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				p := filepath.Join(dir, name)
				require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
				require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
			}
			paths := make([]string, len(tt.paths))
			for i, p := range tt.paths {
				if p != "" {
					paths[i] = filepath.Join(dir, p)
				}
			}

			m, found, err := ReadManifest(paths...)

			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.Contains(t, err.Error(), paths[0], "the error names the file read")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantFound, found)
			if !tt.wantFound {
				return
			}
			assert.Equal(t, filepath.Join(dir, tt.wantPath), m.Path)
			assert.Equal(t, tt.wantEmpty, IsEmpty(m.File.Resources))
		})
	}
}

func TestReadManifestUnreadable(t *testing.T) {
	// A directory where the file should be: reading fails for a reason
	// other than absence, which must not pass for "no manifest".
	dir := t.TempDir()
	p := filepath.Join(dir, "resources.yml")
	require.NoError(t, os.Mkdir(p, 0o755))

	_, found, err := ReadManifest(p)

	require.Error(t, err)
	assert.False(t, found)
	assert.Contains(t, err.Error(), "read manifest: ")
}
