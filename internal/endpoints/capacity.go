package endpoints

import (
	"math"

	corev1 "k8s.io/api/core/v1"
)

// truncate keeps at most MaxCapacity addresses (spec 6). Ready addresses are
// kept over not-ready ones; the budget is shared among subsets in proportion
// to their size, each keeping its first addresses in sort order. Subsets left
// without any address are dropped (spec 6.3: the API server rejects them).
// It reports whether anything was cut.
func truncate(subsets []corev1.EndpointSubset) ([]corev1.EndpointSubset, bool) {
	ready, notReady := CountAddresses(subsets)
	if ready+notReady <= MaxCapacity {
		return subsets, false
	}
	// Which lists are cut, how many entries they hold, and the budget for them.
	cutReady := ready > MaxCapacity
	total, budget := notReady, MaxCapacity-ready
	if cutReady {
		total, budget = ready, MaxCapacity
	}
	left := budget
	kept := subsets[:0]
	for _, ss := range subsets {
		list := &ss.NotReadyAddresses
		if cutReady {
			list = &ss.Addresses
			ss.NotReadyAddresses = nil
		}
		// The ratio is computed in float64 and rounded up, as the reference
		// does, so that the kept counts match it address for address.
		share := int(math.Ceil(float64(len(*list)) / float64(total) * float64(budget)))
		share = min(share, left)
		if len(*list) > share {
			*list = (*list)[:share]
		}
		if len(*list) == 0 {
			*list = nil
		}
		left -= len(*list)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			continue
		}
		kept = append(kept, ss)
	}
	return kept, true
}
