package analysis

// concatForecasts returns the edges' forecast rows in edge order, in one
// slice allocated at its size (an edge's rows are one day of windows per
// metric: growing the slice by appends copied it a dozen times).
func concatForecasts(models []*edgeModel) []ForecastRow {
	n := 0
	for _, m := range models {
		n += len(m.forecast)
	}
	if n == 0 {
		return nil
	}
	out := make([]ForecastRow, 0, n)
	for _, m := range models {
		out = append(out, m.forecast...)
	}
	return out
}
