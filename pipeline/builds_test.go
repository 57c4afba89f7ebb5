package pipeline

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/esb-dev/esb/internal/sam"
)

func TestDetectJavaBuild(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		want  JavaBuild
	}{
		{name: "maven", files: []string{"pom.xml", "src/main/java/a/A.java"}, want: JavaMaven},
		{name: "gradle", files: []string{"build.gradle", "src/main/java/a/A.java"}, want: JavaGradle},
		{name: "gradle kotlin script", files: []string{"build.gradle.kts"}, want: JavaGradle},
		{name: "plain sources, nested", files: []string{"example/Hello.java"}, want: JavaSources},
		{name: "a built jar", files: []string{"function.jar", "lib/dep.jar"}, want: JavaPrebuilt},
		{name: "classes", files: []string{"example/Hello.class"}, want: JavaPrebuilt},
		{name: "sources only in a skipped directory", files: []string{".aws-sam/build/A.java", "function.jar"}, want: JavaPrebuilt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				p := filepath.Join(dir, f)
				require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
				require.NoError(t, os.WriteFile(p, nil, 0o644))
			}
			got, err := DetectJavaBuild(dir)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestCheckBuilds(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"mvn/pom.xml", "gradle/build.gradle", "plain/Hello.java", "py/pom.xml"} {
		p := filepath.Join(dir, f)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, nil, 0o644))
	}
	tmpl := &sam.Template{Path: filepath.Join(dir, "template.yml"), Dir: dir, Functions: []sam.Function{
		{LogicalID: "Mvn", Runtime: "java21", PackageType: sam.PackageZip, CodeDir: filepath.Join(dir, "mvn")},
		{LogicalID: "Gradle", Runtime: "java25", PackageType: sam.PackageZip, CodeDir: filepath.Join(dir, "gradle")},
		{LogicalID: "Plain", Runtime: "java17", PackageType: sam.PackageZip, CodeDir: filepath.Join(dir, "plain")},
		{LogicalID: "NotJava", Runtime: "python3.13", PackageType: sam.PackageZip, CodeDir: filepath.Join(dir, "py")},
	}}
	err := CheckBuilds(tmpl, "")
	require.Error(t, err)
	assert.Equal(t, tmpl.Path+": Resources.Mvn.Properties.CodeUri: mvn is a maven project, and building it needs a Maven mirror, which is not configured: "+
		"set --maven-mirror URL (or ESB_MAVEN_MIRROR), or build the jar yourself and point CodeUri at a directory holding it (and its lib/)\n"+
		tmpl.Path+": Resources.Gradle.Properties.CodeUri: gradle is a gradle project, and building it needs a Maven mirror, which is not configured: "+
		"set --maven-mirror URL (or ESB_MAVEN_MIRROR), or build the jar yourself and point CodeUri at a directory holding it (and its lib/)", err.Error())
	assert.NoError(t, CheckBuilds(tmpl, "https://maven.example/repo"))
}

func TestPlatform(t *testing.T) {
	tests := []struct {
		name, host string
		declared   []string
		want       string
	}{
		{name: "declared arm64", host: "x86_64", declared: []string{"arm64"}, want: "linux/arm64"},
		{name: "declared x86_64", host: "arm64", declared: []string{"x86_64"}, want: "linux/amd64"},
		{name: "none declared: the host's", host: "arm64", want: "linux/arm64"},
		{name: "host unknown: the engine's native platform", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &run{req: Request{Architecture: tt.host}}
			assert.Equal(t, tt.want, string(r.platform(sam.Function{Architectures: tt.declared})))
		})
	}
}
