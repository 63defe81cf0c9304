package stack

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Size is an nginx size such as "1m", "512k" or "1048576" (bytes). "0" means
// no limit where nginx allows it (client_max_body_size).
type Size string

// ParseSize parses an nginx size: digits with an optional k, m or g suffix
// (either case).
func ParseSize(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty size")
	}
	mult := int64(1)
	num := s
	switch s[len(s)-1] {
	case 'k', 'K':
		mult, num = 1<<10, s[:len(s)-1]
	case 'm', 'M':
		mult, num = 1<<20, s[:len(s)-1]
	case 'g', 'G':
		mult, num = 1<<30, s[:len(s)-1]
	}
	if num == "" || strings.TrimLeft(num, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a size (digits with an optional k, m or g: 10m)", s)
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > (1<<53)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// Bytes returns the size in bytes; 0 for an invalid size (Validate rejects those).
func (s Size) Bytes() int64 {
	n, _ := ParseSize(string(s))
	return n
}

// Duration is an nginx time such as "60s", "500ms", "30d" or "1h30m".
type Duration string

var durationUnits = []struct {
	suffix string
	d      time.Duration
}{
	// Longest suffix first so "ms" is not read as "m" then "s".
	{"ms", time.Millisecond},
	{"s", time.Second},
	{"m", time.Minute},
	{"h", time.Hour},
	{"d", 24 * time.Hour},
	{"w", 7 * 24 * time.Hour},
	{"M", 30 * 24 * time.Hour},
	{"y", 365 * 24 * time.Hour},
}

// ParseDuration parses an nginx time: one or more number-unit pairs with the
// units ms, s, m, h, d, w, M, y and no spaces ("1h30m"). A bare number is
// seconds, as in nginx.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	bad := fmt.Errorf("%q is not a duration (a number and a unit: 500ms, 60s, 5m, 1h, 30d)", s)
	if strings.TrimLeft(s, "0123456789") == "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > 1<<31 {
			return 0, bad
		}
		return time.Duration(n) * time.Second, nil
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
		if i == 0 || i > 9 {
			return 0, bad
		}
		n, _ := strconv.ParseInt(rest[:i], 10, 64)
		rest = rest[i:]
		found := false
		for _, u := range durationUnits {
			if strings.HasPrefix(rest, u.suffix) {
				total += time.Duration(n) * u.d
				rest = rest[len(u.suffix):]
				found = true
				break
			}
		}
		if !found {
			return 0, bad
		}
	}
	if total > 100*365*24*time.Hour {
		return 0, fmt.Errorf("%q is too long", s)
	}
	return total, nil
}

// Duration returns the time.Duration; 0 for an empty or invalid value.
func (d Duration) Duration() time.Duration {
	v, _ := ParseDuration(string(d))
	return v
}
