package vidjob

import (
	"fmt"
	"strings"
)

// Money amounts are integer micro-dollars (millionths of a US dollar), so that
// sums over many jobs are exact.
type Micros int64

// DefaultPricePerMinute is Blitline's published video price: $0.0389 a minute.
const DefaultPricePerMinute Micros = 38_900

// String renders the amount as a decimal dollar string with at least four
// fractional digits and no trailing zeros beyond them: 38900 → "0.0389",
// 77800 → "0.0778", 1000000 → "1.0000", 1 → "0.000001".
func (m Micros) String() string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign, v = "-", -v
	}
	frac := fmt.Sprintf("%06d", v%1_000_000)
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 4 {
		frac += "0"
	}
	return fmt.Sprintf("%s%d.%s", sign, v/1_000_000, frac)
}

// ParseMicros parses a decimal dollar amount such as "0.0389" into micro-dollars.
// More than six fractional digits is an error rather than a silent rounding.
func ParseMicros(s string) (Micros, error) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return 0, fmt.Errorf("parse amount %q: empty", s)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("parse amount %q: more than six decimal places", s)
	}
	for len(frac) < 6 {
		frac += "0"
	}
	var v int64
	for _, c := range whole + frac {
		if c < '0' || c > '9' || v > (1<<62)/10 {
			return 0, fmt.Errorf("parse amount %q: not a non-negative decimal of sane size", s)
		}
		v = v*10 + int64(c-'0')
	}
	return Micros(v), nil
}

// BilledMinutes is the number of whole minutes charged for an output of the given
// duration in milliseconds: rounded up, with any started minute counted. A
// zero-length output is charged nothing.
func BilledMinutes(durationMillis int64) int64 {
	if durationMillis <= 0 {
		return 0
	}
	return (durationMillis + 59_999) / 60_000
}

// Charge is one completed job's entry in the billing ledger. There is at most one
// per job; the store enforces it with a unique key on JobID.
type Charge struct {
	JobID          string
	ApplicationID  string
	DurationMillis int64  // the billed duration of the output
	Minutes        int64  // BilledMinutes(DurationMillis)
	Amount         Micros // Minutes × the price per minute in force when the job completed
}

// NewCharge computes the charge for a job whose output lasts durationMillis.
func NewCharge(jobID, appID string, durationMillis int64, pricePerMinute Micros) Charge {
	minutes := BilledMinutes(durationMillis)
	return Charge{
		JobID:          jobID,
		ApplicationID:  appID,
		DurationMillis: durationMillis,
		Minutes:        minutes,
		Amount:         Micros(minutes) * pricePerMinute,
	}
}

// Usage sums an application's charges over a period.
type Usage struct {
	ApplicationID string
	Jobs          int64
	Minutes       int64
	Amount        Micros
}
