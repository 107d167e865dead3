package policy

import "hash/maphash"

// litTable maps a literal segment to a child node. It is a small
// open-addressing hash table rather than a Go map so that a lookup costs
// the same whatever the number of children: Go's maps skip hashing when
// they hold 8 entries or fewer, which made a 10-route table markedly
// faster than a 10,000-route one. The seed is per table, so request
// segments cannot be chosen to collide.
type litTable struct {
	seed  maphash.Seed
	slots []litSlot // len is 0 or a power of two; at most half full
	n     int
}

type litSlot struct {
	key   string
	child *node // nil: empty slot
}

func (t *litTable) get(key string) *node {
	if t.n == 0 {
		return nil
	}
	mask := uint64(len(t.slots) - 1)
	for i := maphash.String(t.seed, key) & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.child == nil {
			return nil
		}
		if s.key == key {
			return s.child
		}
	}
}

// getOrAdd returns the child for key, adding an empty one if needed.
func (t *litTable) getOrAdd(key string, seed maphash.Seed) *node {
	if c := t.get(key); c != nil {
		return c
	}
	if 2*(t.n+1) > len(t.slots) {
		old := t.slots
		t.seed = seed
		t.slots = make([]litSlot, max(8, 2*len(old)))
		t.n = 0
		for _, s := range old {
			if s.child != nil {
				t.put(s.key, s.child)
			}
		}
	}
	c := &node{}
	t.put(key, c)
	return c
}

func (t *litTable) put(key string, c *node) {
	mask := uint64(len(t.slots) - 1)
	i := maphash.String(t.seed, key) & mask
	for t.slots[i].child != nil {
		i = (i + 1) & mask
	}
	t.slots[i] = litSlot{key, c}
	t.n++
}

// all calls f for every child.
func (t *litTable) all(f func(*node)) {
	for _, s := range t.slots {
		if s.child != nil {
			f(s.child)
		}
	}
}
