package config

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The Docker image and compose stack cannot be built on the build machine (no
// Docker engine), so these tests check what can be checked without one: that the
// environment the stack hands the API, once the operator's .env is filled in,
// passes the production checks in Load — a missing secret in the compose file
// would otherwise only show up as a container that refuses to start.

// composeVar matches Compose interpolation: ${NAME}, ${NAME:-default}, ${NAME:?message}.
var composeVar = regexp.MustCompile(`\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}`)

// interpolate fills a compose value the way `docker compose` does for an
// operator who set exactly the variables the compose file requires (`:?`):
// those get a strong random-looking value, the others their default or "".
func interpolate(t *testing.T, v string, required map[string]bool) string {
	t.Helper()
	return composeVar.ReplaceAllStringFunc(v, func(m string) string {
		p := composeVar.FindStringSubmatch(m)
		name, op, arg := p[1], p[2], p[3]
		switch {
		case strings.HasSuffix(op, "?"):
			required[name] = true
			return strings.Repeat("9f", 32) // 64 hex chars, as openssl rand -hex 32
		case strings.HasSuffix(op, "-"):
			return arg
		default:
			return ""
		}
	})
}

func readCompose(t *testing.T) (env map[string]string, volumes []string) {
	t.Helper()
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	api, ok := doc.Services["api"]
	if !ok {
		t.Fatal("docker-compose.yml has no api service")
	}
	return api.Environment, api.Volumes
}

// dockerfileEnv returns the ENV settings of the Dockerfile's final stage.
func dockerfileEnv(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "FROM ") {
			clear(env) // only the last stage's ENV reaches the container
		}
		if rest, ok := strings.CutPrefix(line, "ENV "); ok {
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				env[k] = v
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return env
}

func TestComposeStackPassesProductionChecks(t *testing.T) {
	composeEnv, volumes := readCompose(t)
	env := dockerfileEnv(t)
	required := map[string]bool{}
	for k, v := range composeEnv {
		env[k] = interpolate(t, v, required) // compose overrides the image's ENV
	}
	c, err := Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("the compose stack's API would refuse to start: %v", err)
	}
	if c.AppEnv != "production" {
		t.Fatalf("compose runs APP_ENV=%q, want production", c.AppEnv)
	}
	// Every secret production insists on must be demanded by compose itself
	// (`${X:?…}`), so a forgotten one stops `docker compose up` with its name.
	for _, name := range []string{"JWT_SECRET", "WECHAT_APPID", "WECHAT_SECRET", "DATA_KEY", "POINTS_DEVICE_KEY", "MYSQL_PASSWORD"} {
		if !required[name] {
			t.Errorf("docker-compose.yml does not require %s (${%s:?…})", name, name)
		}
	}
	// Uploaded complaint photos must survive a container replacement.
	var persisted bool
	for _, v := range volumes {
		if _, target, ok := strings.Cut(v, ":"); ok && strings.TrimSuffix(target, "/") == strings.TrimSuffix(c.UploadDir, "/") {
			persisted = true
		}
	}
	if !persisted {
		t.Errorf("UPLOAD_DIR %q is not on a volume in docker-compose.yml (%v)", c.UploadDir, volumes)
	}
}

// A named volume mounted on a path the image does not have is created owned by
// root, and the non-root API could not write photos there. The image must ship
// UPLOAD_DIR already owned by the user it runs as.
func TestDockerfileShipsUploadDirForItsUser(t *testing.T) {
	raw, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	dir := dockerfileEnv(t)["UPLOAD_DIR"]
	if dir == "" {
		t.Fatal("Dockerfile sets no UPLOAD_DIR")
	}
	user := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindStringSubmatch(text)
	if user == nil {
		t.Fatal("Dockerfile has no USER: the API would run as root")
	}
	chown := regexp.MustCompile(`(?m)^COPY\s+--from=\S+\s+--chown=(\S+)\s+\S+\s+(\S+)`).FindAllStringSubmatch(text, -1)
	for _, m := range chown {
		if m[1] == user[1] && strings.HasPrefix(dir, strings.TrimSuffix(m[2], "/")) {
			return
		}
	}
	t.Fatalf("no `COPY --chown=%s … <parent of %s>` in the Dockerfile", user[1], dir)
}
