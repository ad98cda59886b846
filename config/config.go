// Package config turns environment variables into one typed Config.
//
// Everything the service can be tuned with lives here, with dev defaults in code,
// so a newcomer can run it with no .env at all while production refuses to start
// with those same defaults (see Validate).
package config

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// DevJWTSecret is the signing key used when JWT_SECRET is unset. It is public (it is
// in this file), which is why Validate refuses it outside dev and test.
const DevJWTSecret = "dev-only-insecure-jwt-secret-change-me-please"

// Secret is a string that never prints: fmt, slog and JSON all show it masked, so a
// Config can be logged at startup without leaking keys.
type Secret string

// String masks the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "***"
}

// LogValue masks the value in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText masks the value in JSON and text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Reveal returns the real value; call it only where the secret is used.
func (s Secret) Reveal() string { return string(s) }

// Config is the whole runtime configuration.
type Config struct {
	AppEnv    string // dev, test or production
	HTTPAddr  string
	MySQLDSN  Secret // may hold a password
	RedisAddr string // host:port, or a comma-separated list (Redis Cluster seed nodes)
	// With REDIS_SENTINEL_ADDRS and REDIS_MASTER_NAME the client is go-redis's
	// failover client: it asks the sentinels for the master of RedisMasterName
	// and follows them when they promote a replica; RedisAddr is then unused.
	RedisSentinelAddrs    []string
	RedisMasterName       string
	RedisSentinelPassword Secret // REDIS_SENTINEL_PASSWORD, if the sentinels require one
	RedisDB               int
	RedisPassword         Secret
	RedisKeyPrefix        string
	JWTSecret             Secret
	WeChatAppID           string
	WeChatSecret          Secret
	WeChatAPIBase         string
	UploadDir             string
	Timezone              string
	Location              *time.Location
	AutoMigrate           bool
	DemoSeed              bool // serve: run seed-demo after migrating (dev.sh sets it)

	// MetricsAddr (METRICS_ADDR) is where /metrics is served, on a listener of its
	// own and never on HTTP_ADDR: the series name routes, backlogs and dependency
	// health, which the public has no business reading. Default 127.0.0.1:9464
	// (loopback only; 9464 is clear of Prometheus's own 9090 on the same host);
	// "off" serves no metrics.
	MetricsAddr string

	// DataKey (DATA_KEY) encrypts personal data at rest (phones; children's names, allergies and emergency contacts)
	// and keys the phone blind index. Changing it makes stored values unreadable.
	DataKey Secret
	// DataKeyPrevious (DATA_KEY_PREVIOUS) is the key being rotated away from: what
	// it sealed is still read until `nantian rotate-data-key` re-sealed it.
	DataKeyPrevious Secret

	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	ShutdownTimeout time.Duration

	Booking    BookingRules
	Complaints ComplaintRules
	Points     PointsRules
	Templates  SubscribeTemplates
	Notify     NotifyRules
	RateLimits RateLimits
	Payments   PaymentRules // payments.go
	Alerts     StaffAlertRules
	Database   DatabaseRules // database.go
}

// StaffAlertRules configure the alerts to the center's 企业微信 group robot
// (models/staffalert): new work orders, and each 10-30-24 limit shortly before it
// passes. Off while RobotWebhook is empty.
type StaffAlertRules struct {
	// RobotWebhook (WECOM_ROBOT_WEBHOOK): the group robot's webhook URL, key
	// included; the key is the credential, so the whole URL is a Secret.
	RobotWebhook Secret
	AcceptLead   time.Duration // WECOM_ALERT_ACCEPT_LEAD: alert this long before the accept limit
	ContactLead  time.Duration // WECOM_ALERT_CONTACT_LEAD
	ResolveLead  time.Duration // WECOM_ALERT_RESOLVE_LEAD
	// Stale (WECOM_ALERT_STALE): filings and limits older than this get no alert.
	Stale     time.Duration
	PollEvery time.Duration // WECOM_ALERT_POLL_EVERY
	// ConsoleURL (WECOM_ALERT_CONSOLE_URL): the console's public origin, for links.
	ConsoleURL string
}

// BookingRules are the rules residents expect from product.md, as configuration.
type BookingRules struct {
	GateEnabled        bool          // BOOKING_GATE: Redis capacity gate in front of MySQL
	FreeCancelBefore   time.Duration // cancelling later than this before start is a no-show
	CheckInOpensBefore time.Duration // BOOKING_CHECKIN_OPENS_BEFORE: check-in opens this long before the start
	NoShowLimit        int           // this many no-shows ...
	NoShowWindow       time.Duration // ... within this window ...
	SuspendFor         time.Duration // ... suspend new bookings for this long
	ChildMinAgeMonths  int           // childcare age band (default 18-36 months)
	ChildMaxAgeMonths  int
	ReconcileEvery     time.Duration
	ReminderBefore     time.Duration // BOOKING_REMINDER_BEFORE: remind this long before the start (0: off)
	ReminderEvery      time.Duration // BOOKING_REMINDER_EVERY: how often due reminders are queued
}

// ComplaintRules is the 10-30-24 clock.
type ComplaintRules struct {
	AcceptWithin   time.Duration
	ContactWithin  time.Duration
	ResolveWithin  time.Duration
	AutoCloseAfter time.Duration
	DailyLimit     int
	ContentCheck   bool // run msgSecCheck on complaint text
	// OrphanUploadsAfter: photos attached to no complaint are deleted after this.
	OrphanUploadsAfter time.Duration
	// MaxPendingUploads (UPLOAD_MAX_PENDING): photos one user may hold attached to
	// no complaint; past it uploads answer 429 until some are used or cleaned up.
	MaxPendingUploads int
}

// DevDataKey encrypts phone numbers and children's names at rest when DATA_KEY is
// unset. It is public (it is in this file), which is why Validate refuses it in
// production.
const DevDataKey = "dev-only-insecure-data-key-change-me-please!"

// DevPointsDeviceKey encrypts device secrets and resident codes when
// POINTS_DEVICE_KEY is unset. It is public (it is in this file), which is why
// Validate refuses it in production.
const DevPointsDeviceKey = "dev-only-insecure-points-device-key-change-me"

// PointsRules govern food-waste points.
type PointsRules struct {
	GramsPerPoint int
	DailyCap      int
	CodeTTL       time.Duration
	ClockSkew     time.Duration
	// BacklogMax (DEVICE_BACKLOG_MAX) is how far in the past an offline bin's
	// event may lie when it is finally uploaded (the request itself must still
	// be fresh, within ClockSkew).
	BacklogMax time.Duration
	// DeviceSecretKey (POINTS_DEVICE_KEY) encrypts bin HMAC secrets at rest and
	// seals resident codes. Changing it invalidates every device secret (rotate them).
	DeviceSecretKey Secret
	MinWeightGrams  int           // lighter deposits are refused (422)
	MaxWeightGrams  int           // heavier deposits are refused (422)
	PickupWithin    time.Duration // unclaimed redemptions are cancelled and refunded after this
	JobEvery        time.Duration // how often the expiry and unclaimed-redemption jobs run
}

// SubscribeTemplates are the WeChat subscribe-message template ids per event.
type SubscribeTemplates struct {
	BookingResult   string
	BookingReminder string
	ComplaintUpdate string
	RedemptionReady string
}

// IDs is the set of configured template ids: the only ones a resident's grants
// are recorded for.
func (t SubscribeTemplates) IDs() map[string]bool {
	out := map[string]bool{}
	for _, id := range []string{t.BookingResult, t.BookingReminder, t.ComplaintUpdate, t.RedemptionReady} {
		if id != "" {
			out[id] = true
		}
	}
	return out
}

// NotifyRules tune the outbox worker that sends subscribe messages.
type NotifyRules struct {
	WorkerEnabled bool          // NOTIFY_WORKER: run the sender in this instance
	PollEvery     time.Duration // how often due rows are looked for
	Batch         int           // rows claimed per poll
	Lease         time.Duration // a claimed row is another worker's after this (must exceed a send's worst case)
	BackoffBase   time.Duration // first retry delay; doubles per attempt ...
	BackoffMax    time.Duration // ... up to this
	MaxAttempts   int           // then the row is marked failed and its grant given back
}

// RateLimits are per-minute request allowances, enforced in Redis.
type RateLimits struct {
	// Logins (POST /auth/wechat) are limited in two ways that fit CGNAT, where a
	// whole estate shares one carrier IP: codes WeChat refused, per client IP
	// (a guessing loop), and successful logins per openid (one account looping).
	// Successful logins per IP are not limited.
	LoginRefusedPerIP   int // RATE_LOGIN_REFUSED_PER_MIN: refused login codes per client IP
	LoginPerOpenID      int // RATE_LOGIN_PER_OPENID_PER_MIN: successful logins per WeChat account
	BookingPerUser      int // RATE_BOOKING_PER_MIN: booking creation per user
	ComplaintPerUser    int // RATE_COMPLAINT_PER_MIN: complaint filing per user
	DeviceWebhookPerDev int // RATE_DEVICE_PER_MIN: device webhook per device
	SubscriptionPerUser int // RATE_SUBSCRIPTION_PER_MIN: POST /me/subscriptions per user
	ReportPerStaff      int // RATE_REPORT_PER_MIN: report and export endpoints per staff member
	// TRUSTED_PROXIES: comma-separated IPs/CIDRs of the load balancers whose
	// X-Forwarded-For is believed. Empty (the default) believes none, so a client
	// cannot pick its own IP to dodge the per-IP login limit; behind a load balancer
	// set it, or every resident shares the balancer's IP and one allowance.
	TrustedProxies []string
	// TRUSTED_PROXY_HEADER: the one header the trusted proxies set to the client's
	// address (default X-Forwarded-For; e.g. X-Real-IP for an nginx configured so).
	// Only that header is read, and only from TRUSTED_PROXIES: any other header a
	// client adds itself (X-Real-IP, True-Client-IP, ...) is ignored.
	ClientIPHeader string
}

// Load reads the configuration through getenv (os.Getenv in main, a map in tests).
func Load(getenv func(string) string) (Config, error) {
	e := envReader{get: getenv}
	c := Config{
		Payments:              loadPayments(&e),
		Database:              loadDatabase(&e),
		AppEnv:                e.str("APP_ENV", "dev"),
		HTTPAddr:              e.str("HTTP_ADDR", ":8080"),
		MetricsAddr:           e.str("METRICS_ADDR", "127.0.0.1:9464"),
		MySQLDSN:              Secret(e.str("MYSQL_DSN", "root:@tcp(127.0.0.1:3306)/nantian?parseTime=true&loc=UTC&charset=utf8mb4")),
		RedisAddr:             e.str("REDIS_ADDR", "127.0.0.1:6379"),
		RedisDB:               e.int("REDIS_DB", 0),
		RedisSentinelAddrs:    e.list("REDIS_SENTINEL_ADDRS"),
		RedisMasterName:       e.str("REDIS_MASTER_NAME", ""),
		RedisSentinelPassword: Secret(e.str("REDIS_SENTINEL_PASSWORD", "")),
		RedisPassword:         Secret(e.str("REDIS_PASSWORD", "")),
		RedisKeyPrefix:        e.str("REDIS_KEY_PREFIX", "nantian:"),
		JWTSecret:             Secret(e.str("JWT_SECRET", DevJWTSecret)),
		WeChatAppID:           e.str("WECHAT_APPID", ""),
		WeChatSecret:          Secret(e.str("WECHAT_SECRET", "")),
		DataKey:               Secret(e.str("DATA_KEY", DevDataKey)),
		DataKeyPrevious:       Secret(e.str("DATA_KEY_PREVIOUS", "")),
		WeChatAPIBase:         strings.TrimRight(e.str("WECHAT_API_BASE", "https://api.weixin.qq.com"), "/"),
		UploadDir:             e.str("UPLOAD_DIR", "./data/uploads"),
		Timezone:              e.str("APP_TIMEZONE", "Asia/Shanghai"),
		AutoMigrate:           e.bool("AUTO_MIGRATE", true),
		DemoSeed:              e.bool("DEMO_SEED", false),
		AccessTokenTTL:        e.dur("ACCESS_TOKEN_TTL", 2*time.Hour),
		RefreshTokenTTL:       e.dur("REFRESH_TOKEN_TTL", 30*24*time.Hour),
		ShutdownTimeout:       e.dur("SHUTDOWN_TIMEOUT", 20*time.Second),
		Booking: BookingRules{
			GateEnabled:        e.bool("BOOKING_GATE", true),
			FreeCancelBefore:   e.dur("BOOKING_FREE_CANCEL_BEFORE", 2*time.Hour),
			CheckInOpensBefore: e.dur("BOOKING_CHECKIN_OPENS_BEFORE", 2*time.Hour),
			NoShowLimit:        e.int("BOOKING_NO_SHOW_LIMIT", 3),
			NoShowWindow:       e.dur("BOOKING_NO_SHOW_WINDOW", 90*24*time.Hour),
			SuspendFor:         e.dur("BOOKING_SUSPEND_FOR", 30*24*time.Hour),
			ChildMinAgeMonths:  e.int("CHILDCARE_MIN_AGE_MONTHS", 18),
			ChildMaxAgeMonths:  e.int("CHILDCARE_MAX_AGE_MONTHS", 36),
			ReconcileEvery:     e.dur("BOOKING_RECONCILE_EVERY", 5*time.Second),
			ReminderBefore:     e.dur("BOOKING_REMINDER_BEFORE", 24*time.Hour),
			ReminderEvery:      e.dur("BOOKING_REMINDER_EVERY", time.Minute),
		},
		Complaints: ComplaintRules{
			AcceptWithin:       e.dur("COMPLAINT_ACCEPT_WITHIN", 10*time.Minute),
			ContactWithin:      e.dur("COMPLAINT_CONTACT_WITHIN", 30*time.Minute),
			ResolveWithin:      e.dur("COMPLAINT_RESOLVE_WITHIN", 24*time.Hour),
			AutoCloseAfter:     e.dur("COMPLAINT_AUTO_CLOSE_AFTER", 7*24*time.Hour),
			DailyLimit:         e.int("COMPLAINT_DAILY_LIMIT", 10),
			ContentCheck:       e.bool("COMPLAINT_CONTENT_CHECK", true),
			OrphanUploadsAfter: e.dur("UPLOAD_ORPHAN_AFTER", 24*time.Hour),
			MaxPendingUploads:  e.int("UPLOAD_MAX_PENDING", 30),
		},
		Points: PointsRules{
			GramsPerPoint: e.int("POINTS_GRAMS_PER_POINT", 100),
			DailyCap:      e.int("POINTS_DAILY_CAP", 20),
			CodeTTL:       e.dur("POINTS_CODE_TTL", 60*time.Second),
			ClockSkew:     e.dur("DEVICE_CLOCK_SKEW", 300*time.Second),
			BacklogMax:    e.dur("DEVICE_BACKLOG_MAX", 72*time.Hour),

			DeviceSecretKey: Secret(e.str("POINTS_DEVICE_KEY", DevPointsDeviceKey)),
			MinWeightGrams:  e.int("POINTS_MIN_WEIGHT_GRAMS", 1),
			MaxWeightGrams:  e.int("POINTS_MAX_WEIGHT_GRAMS", 20000),
			PickupWithin:    e.dur("POINTS_PICKUP_WITHIN", 30*24*time.Hour),
			JobEvery:        e.dur("POINTS_JOB_EVERY", time.Minute),
		},
		Templates: SubscribeTemplates{
			BookingResult:   e.str("WECHAT_TPL_BOOKING_RESULT", "tpl-booking-result"),
			BookingReminder: e.str("WECHAT_TPL_BOOKING_REMINDER", "tpl-booking-reminder"),
			ComplaintUpdate: e.str("WECHAT_TPL_COMPLAINT_UPDATE", "tpl-complaint-update"),
			RedemptionReady: e.str("WECHAT_TPL_REDEMPTION_READY", "tpl-redemption-ready"),
		},
		Notify: NotifyRules{
			WorkerEnabled: e.bool("NOTIFY_WORKER", true),
			PollEvery:     e.dur("NOTIFY_POLL_EVERY", 2*time.Second),
			Batch:         e.int("NOTIFY_BATCH", 50),
			Lease:         e.dur("NOTIFY_LEASE", 60*time.Second),
			BackoffBase:   e.dur("NOTIFY_BACKOFF_BASE", 10*time.Second),
			BackoffMax:    e.dur("NOTIFY_BACKOFF_MAX", time.Hour),
			MaxAttempts:   e.int("NOTIFY_MAX_ATTEMPTS", 10),
		},
		Alerts: StaffAlertRules{
			RobotWebhook: Secret(e.str("WECOM_ROBOT_WEBHOOK", "")),
			AcceptLead:   e.dur("WECOM_ALERT_ACCEPT_LEAD", 3*time.Minute),
			ContactLead:  e.dur("WECOM_ALERT_CONTACT_LEAD", 10*time.Minute),
			ResolveLead:  e.dur("WECOM_ALERT_RESOLVE_LEAD", 2*time.Hour),
			Stale:        e.dur("WECOM_ALERT_STALE", time.Hour),
			PollEvery:    e.dur("WECOM_ALERT_POLL_EVERY", 15*time.Second),
			ConsoleURL:   strings.TrimRight(e.str("WECOM_ALERT_CONSOLE_URL", ""), "/"),
		},
		RateLimits: RateLimits{
			LoginRefusedPerIP:   e.int("RATE_LOGIN_REFUSED_PER_MIN", 10),
			LoginPerOpenID:      e.int("RATE_LOGIN_PER_OPENID_PER_MIN", 10),
			BookingPerUser:      e.int("RATE_BOOKING_PER_MIN", 20),
			ComplaintPerUser:    e.int("RATE_COMPLAINT_PER_MIN", 10),
			DeviceWebhookPerDev: e.int("RATE_DEVICE_PER_MIN", 120),
			SubscriptionPerUser: e.int("RATE_SUBSCRIPTION_PER_MIN", 20),
			ReportPerStaff:      e.int("RATE_REPORT_PER_MIN", 30),
			TrustedProxies:      e.list("TRUSTED_PROXIES"),
			ClientIPHeader:      e.str("TRUSTED_PROXY_HEADER", "X-Forwarded-For"),
		},
	}
	if getenv("REDIS_SENTINEL_MASTER") != "" {
		// The old spelling put the sentinels in REDIS_ADDR; one spelling only, so
		// an operator's REDIS_ADDR cannot mean two things.
		e.errs = append(e.errs, errors.New("REDIS_SENTINEL_MASTER is no longer read: set REDIS_MASTER_NAME to the master set's name and REDIS_SENTINEL_ADDRS to the sentinels' addresses (what REDIS_ADDR listed), and remove REDIS_ADDR"))
	}
	if len(c.RedisSentinelAddrs) > 0 && getenv("REDIS_ADDR") != "" {
		e.errs = append(e.errs, errors.New("REDIS_ADDR and REDIS_SENTINEL_ADDRS are exclusive: with Sentinel the client asks the sentinels where the master is"))
	}
	if getenv("RATE_LOGIN_PER_MIN") != "" {
		// Counted every login per IP, which locks out an estate behind one carrier
		// IP; a silent reinterpretation would change what an operator asked for.
		e.errs = append(e.errs, errors.New("RATE_LOGIN_PER_MIN is no longer read: logins are limited by refused codes per IP (RATE_LOGIN_REFUSED_PER_MIN) and by logins per WeChat account (RATE_LOGIN_PER_OPENID_PER_MIN); remove it"))
	}
	if len(e.errs) > 0 {
		return Config{}, errors.Join(e.errs...)
	}
	loc, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return Config{}, fmt.Errorf("APP_TIMEZONE %q: %w", c.Timezone, err)
	}
	c.Location = loc
	return c, c.Validate()
}

// Validate checks the values make sense, and that production does not run on dev
// defaults: a guessable JWT key or a fake WeChat would let anyone log in as anyone.
func (c Config) Validate() error {
	var errs []error
	switch c.AppEnv {
	case "dev", "test", "production":
	default:
		errs = append(errs, fmt.Errorf("APP_ENV must be dev, test or production, got %q", c.AppEnv))
	}
	if c.MySQLDSN == "" {
		errs = append(errs, errors.New("MYSQL_DSN is required"))
	}
	if c.RedisAddr == "" {
		errs = append(errs, errors.New("REDIS_ADDR is required"))
	}
	if (len(c.RedisSentinelAddrs) > 0) != (c.RedisMasterName != "") {
		errs = append(errs, errors.New("REDIS_SENTINEL_ADDRS and REDIS_MASTER_NAME go together (Sentinel needs both)"))
	}
	for _, a := range c.RedisSentinelAddrs {
		if _, port, err := net.SplitHostPort(a); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("REDIS_SENTINEL_ADDRS: %q is not host:port", a))
		}
	}
	if len(c.JWTSecret) < 32 {
		errs = append(errs, errors.New("JWT_SECRET must be at least 32 bytes"))
	}
	u, err := url.Parse(c.WeChatAPIBase)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		errs = append(errs, fmt.Errorf("WECHAT_API_BASE %q is not an http(s) URL", c.WeChatAPIBase))
	}
	if c.AppEnv == "production" {
		if c.JWTSecret == DevJWTSecret {
			errs = append(errs, errors.New("JWT_SECRET is the dev default; set a random secret of at least 32 bytes"))
		}
		if c.WeChatAppID == "" || c.WeChatSecret == "" {
			errs = append(errs, errors.New("WECHAT_APPID and WECHAT_SECRET are required in production"))
		}
		if u != nil && u.Scheme != "https" {
			errs = append(errs, errors.New("WECHAT_API_BASE must be https in production (a mock WeChat is for dev and tests)"))
		}
	}
	if c.Booking.CheckInOpensBefore < 0 {
		errs = append(errs, errors.New("BOOKING_CHECKIN_OPENS_BEFORE must be >= 0"))
	}
	if c.Booking.ReminderBefore < 0 || c.Booking.ReminderEvery <= 0 {
		errs = append(errs, errors.New("BOOKING_REMINDER_BEFORE must be >= 0 and BOOKING_REMINDER_EVERY > 0"))
	}
	if c.Booking.NoShowLimit < 1 || c.Booking.ChildMinAgeMonths < 0 || c.Booking.ChildMaxAgeMonths < c.Booking.ChildMinAgeMonths {
		errs = append(errs, errors.New("booking rules out of range"))
	}
	if c.Points.GramsPerPoint < 1 || c.Points.DailyCap < 0 || c.Points.MinWeightGrams < 1 ||
		c.Points.MaxWeightGrams < c.Points.MinWeightGrams || c.Points.ClockSkew <= 0 || c.Points.BacklogMax < c.Points.ClockSkew || c.Points.CodeTTL <= 0 ||
		c.Points.PickupWithin <= 0 || c.Points.JobEvery <= 0 {
		errs = append(errs, errors.New("points rules out of range"))
	}
	if c.AppEnv == "production" && (c.Points.DeviceSecretKey == DevPointsDeviceKey || len(c.Points.DeviceSecretKey) < 32) {
		errs = append(errs, errors.New("POINTS_DEVICE_KEY must be set to a random secret of at least 32 bytes in production (the dev default is public)"))
	}
	if len(c.DataKey) < 32 {
		errs = append(errs, errors.New("DATA_KEY must be at least 32 bytes"))
	}
	if c.AppEnv == "production" && c.DataKey == DevDataKey {
		errs = append(errs, errors.New("DATA_KEY is the dev default; set a random secret of at least 32 bytes in production (it encrypts phones and children's names)"))
	}
	if c.Notify.PollEvery <= 0 || c.Notify.Batch < 1 || c.Notify.Lease <= 0 || c.Notify.BackoffBase <= 0 ||
		c.Notify.BackoffMax < c.Notify.BackoffBase || c.Notify.MaxAttempts < 1 {
		errs = append(errs, errors.New("notify rules out of range (NOTIFY_*)"))
	}
	if c.Complaints.MaxPendingUploads < 1 {
		errs = append(errs, errors.New("UPLOAD_MAX_PENDING must be at least 1"))
	}
	errs = append(errs, c.Payments.validate(c.AppEnv)...)
	errs = append(errs, c.Database.validate(c.MySQLDSN.Reveal())...)
	errs = append(errs, c.Alerts.validate(c.AppEnv)...)
	r := c.RateLimits
	if r.LoginRefusedPerIP < 1 || r.LoginPerOpenID < 1 || r.BookingPerUser < 1 || r.ComplaintPerUser < 1 || r.DeviceWebhookPerDev < 1 || r.SubscriptionPerUser < 1 || r.ReportPerStaff < 1 {
		errs = append(errs, errors.New("rate limits must be at least 1 per minute (RATE_*_PER_MIN)"))
	}
	if r.ClientIPHeader == "" || strings.ContainsAny(r.ClientIPHeader, " :\t\r\n") {
		errs = append(errs, fmt.Errorf("TRUSTED_PROXY_HEADER %q is not a header name", r.ClientIPHeader))
	}
	if c.MetricsAddr != "off" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("METRICS_ADDR %q is not host:port (or \"off\"): %w", c.MetricsAddr, err))
		} else if c.MetricsAddr == c.HTTPAddr {
			errs = append(errs, errors.New("METRICS_ADDR must differ from HTTP_ADDR: /metrics is never served on the public listener"))
		}
	}
	for _, p := range r.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			errs = append(errs, fmt.Errorf("TRUSTED_PROXIES: %q is not an IP or CIDR", p))
		}
	}
	return errors.Join(errs...)
}

// validate checks the staff-alert settings; an empty webhook turns alerts off and
// needs nothing else.
func (a StaffAlertRules) validate(env string) []error {
	if a.RobotWebhook == "" {
		return nil
	}
	var errs []error
	u, err := url.Parse(a.RobotWebhook.Reveal())
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || u.Query().Get("key") == "" {
		// Not quoted: the URL holds the robot's key.
		errs = append(errs, errors.New("WECOM_ROBOT_WEBHOOK must be the robot's http(s) webhook URL with its key= parameter"))
	} else if env == "production" && u.Scheme != "https" {
		errs = append(errs, errors.New("WECOM_ROBOT_WEBHOOK must be https in production"))
	}
	if a.AcceptLead <= 0 || a.ContactLead <= 0 || a.ResolveLead <= 0 || a.Stale <= 0 || a.PollEvery <= 0 {
		errs = append(errs, errors.New("WECOM_ALERT_* durations must be greater than 0"))
	}
	if a.ConsoleURL != "" {
		if cu, err := url.Parse(a.ConsoleURL); err != nil || cu.Host == "" || (cu.Scheme != "http" && cu.Scheme != "https") {
			errs = append(errs, fmt.Errorf("WECOM_ALERT_CONSOLE_URL %q is not an http(s) URL", a.ConsoleURL))
		}
	}
	return errs
}

// LogValue lets `slog.Info("config", "config", cfg)` print the config with every
// secret masked.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("app_env", c.AppEnv),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("metrics_addr", c.MetricsAddr),
		slog.String("mysql_dsn", MaskDSN(string(c.MySQLDSN))),
		slog.String("mysql_replica_dsn", MaskDSN(string(c.Database.ReplicaDSN))),
		slog.Duration("mysql_statement_timeout", c.Database.StatementTimeout),
		slog.Duration("mysql_tx_statement_timeout", c.Database.TxStatementTimeout),
		slog.String("redis_addr", c.RedisAddr),
		slog.Any("redis_sentinel_addrs", c.RedisSentinelAddrs),
		slog.String("redis_master_name", c.RedisMasterName),
		slog.Int("redis_db", c.RedisDB),
		slog.String("redis_key_prefix", c.RedisKeyPrefix),
		slog.Any("jwt_secret", c.JWTSecret),
		slog.String("wechat_appid", c.WeChatAppID),
		slog.Any("wechat_secret", c.WeChatSecret),
		slog.Any("data_key", c.DataKey),
		slog.String("wechat_api_base", c.WeChatAPIBase),
		slog.String("upload_dir", c.UploadDir),
		slog.String("timezone", c.Timezone),
		slog.Bool("auto_migrate", c.AutoMigrate),
		slog.Bool("booking_gate", c.Booking.GateEnabled),
		slog.Bool("wecom_alerts", c.Alerts.RobotWebhook != ""),
	)
}

// MaskDSN hides the password of a go-sql-driver DSN ("user:pass@tcp(...)/db").
func MaskDSN(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	if at < 0 {
		return dsn
	}
	cred := dsn[:at]
	if i := strings.Index(cred, ":"); i >= 0 && i < len(cred)-1 {
		return cred[:i] + ":***" + dsn[at:]
	}
	return dsn
}

// LoadDotEnv reads KEY=VALUE lines from path into the process environment, without
// overriding variables that are already set. A missing file is not an error: .env
// is a dev convenience only.
func LoadDotEnv(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(strings.TrimPrefix(k, "export "))
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		if _, set := os.LookupEnv(k); !set {
			os.Setenv(k, v)
		}
	}
	return sc.Err()
}

type envReader struct {
	get  func(string) string
	errs []error
}

func (e *envReader) str(key, def string) string {
	if v := strings.TrimSpace(e.get(key)); v != "" {
		return v
	}
	return def
}

func (e *envReader) int(key string, def int) int {
	v := strings.TrimSpace(e.get(key))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not an integer", key, v))
		return def
	}
	return n
}

func (e *envReader) list(key string) []string {
	var out []string
	for _, v := range strings.Split(e.get(key), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func (e *envReader) bool(key string, def bool) bool {
	v := strings.TrimSpace(e.get(key))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not a boolean", key, v))
		return def
	}
	return b
}

func (e *envReader) dur(key string, def time.Duration) time.Duration {
	v := strings.TrimSpace(e.get(key))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		e.errs = append(e.errs, fmt.Errorf("%s: %q is not a duration like 90s or 2h", key, v))
		return def
	}
	return d
}
