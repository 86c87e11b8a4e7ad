package web

// The formats of the pages, for the browser test to compare with app.js.
var (
	FmtClock = fmtClock
	FmtValue = fmtValue
	FmtSpan  = fmtSpan
)
