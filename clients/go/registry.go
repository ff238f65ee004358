package featurelog

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"
)

// definitions is what the client needs of the registry's GET /definitions.
type definitions struct {
	Version int64 `json:"version"`
	Objects struct {
		Entity []struct {
			Name     string `json:"name"`
			JoinKeys []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"joinKeys"`
		} `json:"entity"`
		FeatureView []struct {
			Name     string   `json:"name"`
			Entities []string `json:"entities"`
			Features []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"features"`
		} `json:"feature_view"`
		FeatureService []struct {
			Name     string   `json:"name"`
			Features []string `json:"features"`
		} `json:"feature_service"`
	} `json:"objects"`
}

// minRefetch spaces the reads of the registry for a column it does not know: were the registry app
// behind the serving app for a while, it is not read on every request.
const minRefetch = time.Second

// typeCache holds the registry's definitions for a while; one fetch at a time.
type typeCache struct {
	ttl       time.Duration
	mu        sync.Mutex
	current   *definitions
	fetchedAt time.Time
}

// resolve gives the type and reference of each column of a response to request. The cached
// definitions are read again when they are older than the TTL, or when they do not know a view,
// feature or service of the request (an apply since): a column still unknown after that (the
// registry app behind the serving app) is decoded from its encoding. A failed read with cached
// definitions at hand uses those; without any, it is the error.
func (t *typeCache) resolve(ctx context.Context, c *Client, request Request, names []string) (*columnTypes, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fresh := false
	if t.current == nil || time.Since(t.fetchedAt) > t.ttl {
		if err := t.fetch(ctx, c); err != nil {
			if t.current == nil {
				return nil, err
			}
			// Served from the old definitions for another TTL rather than a slow failing read per request.
			t.fetchedAt = time.Now()
		} else {
			fresh = true
		}
	}
	known, complete := t.current.columns(request, names)
	if !complete && !fresh && time.Since(t.fetchedAt) >= minRefetch && t.fetch(ctx, c) == nil {
		known, _ = t.current.columns(request, names)
	}
	return known, nil
}

// refresh reads the registry again unless it was read less than minRefetch ago; it says whether
// there are new definitions.
func (t *typeCache) refresh(ctx context.Context, c *Client) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return time.Since(t.fetchedAt) >= minRefetch && t.fetch(ctx, c) == nil
}

func (t *typeCache) fetch(ctx context.Context, c *Client) error {
	answer, err := c.call(ctx, "GET", c.registryURL+"/definitions", nil)
	if err != nil {
		return err
	}
	var fetched definitions
	if err := json.Unmarshal(answer, &fetched); err != nil {
		return invalidResponse("the registry's /definitions is not the expected JSON: %v", err)
	}
	t.current, t.fetchedAt = &fetched, time.Now()
	return nil
}

// columns resolves the request's features as the server does (in order, `view:*` in the view's
// declared order, each feature once; a service by its own references) and types every column of
// names it can; complete says whether all of them were.
func (d *definitions) columns(request Request, names []string) (*columnTypes, bool) {
	known := &columnTypes{types: map[string]string{}, references: map[string]string{}}
	references := request.Features
	if request.FeatureService != "" {
		for _, service := range d.Objects.FeatureService {
			if service.Name == request.FeatureService {
				references = service.Features
			}
		}
	}
	joinKeys := map[string]string{}
	seen := map[string]bool{}
	for _, reference := range references {
		viewName, featureName, ok := strings.Cut(reference, ":")
		if !ok {
			continue
		}
		for _, view := range d.Objects.FeatureView {
			if view.Name != viewName {
				continue
			}
			for _, entityName := range view.Entities {
				for _, entity := range d.Objects.Entity {
					if entity.Name == entityName {
						for _, key := range entity.JoinKeys {
							joinKeys[key.Name] = key.Type
						}
					}
				}
			}
			for _, feature := range view.Features {
				if featureName != "*" && feature.Name != featureName {
					continue
				}
				full := view.Name + ":" + feature.Name
				if seen[full] {
					continue
				}
				seen[full] = true
				name := columnName(view.Name, feature.Name, request.FullFeatureNames)
				known.types[name] = feature.Type
				known.references[name] = full
			}
		}
	}
	complete := true
	for _, name := range names {
		if _, ok := known.types[name]; ok {
			continue
		}
		if keyType, ok := joinKeys[name]; ok {
			known.types[name] = keyType
			continue
		}
		// A join key column the views do not type is the request's own echo: nothing to read again for.
		if _, isKey := request.Entities[name]; !isKey {
			complete = false
		}
	}
	return known, complete
}
