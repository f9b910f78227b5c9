package store

import (
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"
)

// RotateKey re-seals every record under newKey in one transaction. A crash
// at any moment leaves either the old store (usable with the old key) or
// the new one; never a mix. It returns the store opened under the new key.
func (s *Store) RotateKey(newKey []byte) (*Store, error) {
	nk, err := deriveKeys(newKey)
	if err != nil {
		return nil, err
	}
	ns := &Store{path: s.path, keys: nk, seed: s.seed}
	err = s.update(func(tx *bolt.Tx) error {
		if err := s.resealLog(tx, ns); err != nil {
			return err
		}
		if err := s.resealBatches(tx, ns); err != nil {
			return err
		}
		meta := tx.Bucket(bucketMeta)
		if err := meta.Put(metaCheck, ns.seal([]byte(checkPlaintext), metaCheck)); err != nil {
			return err
		}
		return meta.Put(metaSeed, ns.seal(s.seed, metaSeed))
	})
	if err != nil {
		return nil, fmt.Errorf("failed to rotate the store key: %w", err)
	}
	return ns, nil
}

// resealLog seals every log chunk again under ns's key.
func (s *Store) resealLog(tx *bolt.Tx, ns *Store) error {
	b := tx.Bucket(bucketLog)
	type kv struct{ k, v []byte }
	var all []kv
	err := b.ForEach(func(k, v []byte) error {
		plain, err := s.open(v, logAD(k))
		if err != nil {
			return err
		}
		all = append(all, kv{append([]byte(nil), k...), ns.seal(plain, logAD(k))})
		return nil
	})
	if err != nil {
		return err
	}
	for _, e := range all {
		if err := b.Put(e.k, e.v); err != nil {
			return err
		}
	}
	return nil
}

// resealBatches moves every batch's restore set to its lookup key under
// ns's key, sealed under it.
func (s *Store) resealBatches(tx *bolt.Tx, ns *Store) error {
	var plains [][]byte
	err := tx.Bucket(bucketBatch).ForEach(func(k, v []byte) error {
		plain, err := s.open(v, k)
		if err != nil {
			return err
		}
		plains = append(plains, plain)
		return nil
	})
	if err != nil {
		return err
	}
	if err := tx.DeleteBucket(bucketBatch); err != nil {
		return err
	}
	b, err := tx.CreateBucket(bucketBatch)
	if err != nil {
		return err
	}
	for _, plain := range plains {
		id, _, err := batchID(plain)
		if err != nil {
			return err
		}
		k := ns.batchKey(id)
		if err := b.Put(k, ns.seal(plain, k)); err != nil {
			return err
		}
	}
	return nil
}

// Reset deletes the store in dir. The key stays where it is.
func Reset(dir string) error {
	if err := os.Remove(Path(dir)); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("failed to delete the store: %w", err)
	}
	return nil
}
