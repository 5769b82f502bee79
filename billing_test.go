package vidjob

import "testing"

func TestBilledMinutesRoundsEveryStartedMinuteUp(t *testing.T) {
	cases := map[int64]int64{0: 0, 1: 1, 35_000: 1, 59_000: 1, 59_999: 1, 60_000: 1, 60_001: 2, 61_000: 2, 120_000: 2, 3_600_000: 60}
	for ms, want := range cases {
		if got := BilledMinutes(ms); got != want {
			t.Errorf("BilledMinutes(%d) = %d, want %d", ms, got, want)
		}
	}
}

func TestChargeIsExactInMicroDollars(t *testing.T) {
	c := NewCharge("j", "a", 61_000, DefaultPricePerMinute)
	if c.Minutes != 2 || c.Amount != 77_800 || c.Amount.String() != "0.0778" {
		t.Fatalf("charge = %+v (%s)", c, c.Amount)
	}
	// A thousand 35 s jobs cost exactly 38.9 dollars: no float drift.
	var sum Micros
	for i := 0; i < 1000; i++ {
		sum += NewCharge("j", "a", 35_000, DefaultPricePerMinute).Amount
	}
	if sum.String() != "38.9000" {
		t.Fatalf("sum = %s", sum)
	}
}

func TestMicrosRoundTrip(t *testing.T) {
	for s, want := range map[string]string{"0.0389": "0.0389", "1": "1.0000", "0.000001": "0.000001", "12.5": "12.5000", ".5": "0.5000"} {
		m, err := ParseMicros(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if m.String() != want {
			t.Errorf("%s → %s, want %s", s, m, want)
		}
	}
	for _, bad := range []string{"", "abc", "0.0000001", "-1", "1.2.3", "1e3"} {
		if _, err := ParseMicros(bad); err == nil {
			t.Errorf("ParseMicros(%q) accepted", bad)
		}
	}
}
