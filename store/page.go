package store

// Page turns the rows of a list query that asked for limit+1 rows (newest first) into at
// most limit views and the cursor of the next page: the seq of the last row returned, or
// nil when there is no further row.
func Page[R, T any](rows []R, limit int32, seq func(R) int64, view func(R) T) ([]T, *int64) {
	var next *int64
	if len(rows) > int(limit) {
		rows = rows[:limit]
		s := seq(rows[len(rows)-1])
		next = &s
	}
	out := make([]T, len(rows))
	for i, r := range rows {
		out[i] = view(r)
	}
	return out, next
}
