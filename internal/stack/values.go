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

// durationUnits are nginx's time units, in the only order ngx_parse_time
// accepts them: each at most once, larger before smaller.
var durationUnits = []struct {
	suffix string
	d      time.Duration
}{
	{"y", 365 * 24 * time.Hour},
	{"M", 30 * 24 * time.Hour},
	{"w", 7 * 24 * time.Hour},
	{"d", 24 * time.Hour},
	{"h", time.Hour},
	{"m", time.Minute},
	{"s", time.Second},
	{"ms", time.Millisecond},
}

// maxDuration is the longest time stackctl accepts: far beyond any
// sensible timeout or expiry, and far from time.Duration's overflow.
const maxDuration = 100 * 365 * 24 * time.Hour

// ParseDuration parses an nginx time like ngx_parse_time: one or more
// number-unit pairs with the units y, M, w, d, h, m, s, ms, each at most
// once and from the largest to the smallest ("1h30m"; "30m1h" and "1s1m"
// are refused, as nginx -t refuses them), no spaces. A bare number is
// seconds. A value that overflows, or is longer than 100 years, is refused.
func ParseDuration(s string) (time.Duration, error) {
	return parseTime(s, false)
}

// ParseTimeout parses an nginx timeout such as proxy_read_timeout: nginx
// reads these in milliseconds (ngx_conf_set_msec_slot), where the units y
// and M are refused. Otherwise as ParseDuration.
func ParseTimeout(s string) (time.Duration, error) {
	return parseTime(s, true)
}

func parseTime(s string, msec bool) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	bad := fmt.Errorf("%q is not a duration (numbers with units from the largest to the smallest: 500ms, 60s, 5m, 1h30m, 30d)", s)
	tooLong := fmt.Errorf("%q is too long (at most 100 years)", s)
	if strings.TrimLeft(s, "0123456789") == "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n > int64(maxDuration/time.Second) {
			return 0, tooLong
		}
		return time.Duration(n) * time.Second, nil
	}
	var total time.Duration
	next := 0 // index in durationUnits of the smallest unit still allowed
	if msec {
		next = 2 // y and M: nginx's msec times refuse them
	}
	rest := s
	for rest != "" {
		i := len(rest) - len(strings.TrimLeft(rest, "0123456789"))
		if i == 0 {
			return 0, bad
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return 0, tooLong
		}
		rest = rest[i:]
		u := -1
		for j, unit := range durationUnits {
			if strings.HasPrefix(rest, unit.suffix) && (unit.suffix != "m" || !strings.HasPrefix(rest, "ms")) {
				u = j
				break
			}
		}
		if u < 0 {
			return 0, bad
		}
		if u < next {
			if msec && u < 2 {
				return 0, fmt.Errorf("%q: nginx timeouts take no y or M unit (use d: 30d)", s)
			}
			return 0, bad
		}
		next = u + 1
		rest = rest[len(durationUnits[u].suffix):]
		unit := durationUnits[u].d
		if n > int64(maxDuration/unit) {
			return 0, tooLong
		}
		total += time.Duration(n) * unit
		if total > maxDuration {
			return 0, tooLong
		}
	}
	return total, nil
}

// Duration returns the time.Duration; 0 for an empty or invalid value.
func (d Duration) Duration() time.Duration {
	v, _ := ParseDuration(string(d))
	return v
}
