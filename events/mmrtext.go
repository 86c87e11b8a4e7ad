package events

import "strconv"

// MMRText writes an MMR kept ×1000 (MMRMilli, sums of it) with all three
// decimals it has, so players whose MMRs differ never read the same
// number: short clocks give small MMRs ("0.028"), long ones large
// ("1234.500").
func MMRText(milli int64) string {
	sign := ""
	if milli < 0 {
		sign, milli = "-", -milli
	}
	frac := strconv.FormatInt(milli%1000+1000, 10)[1:]
	return sign + strconv.FormatInt(milli/1000, 10) + "." + frac
}
