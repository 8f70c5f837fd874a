package sim

import (
	"context"
	"fmt"
	"math"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/usage"
)

// ReplayFiles are the inputs of chaosgen replay as its arguments and flags
// name them; Open reads them into ReplayOptions.
type ReplayFiles struct {
	Inputs     []string // span files, directories or globs (ingest.Inputs)
	MeshPath   string   // mesh policy YAML; empty: the default mesh
	BundlePath string   // the bundle to replay; empty: baseline only
	// Verify says who must have signed the bundle; without a signer the
	// bundle is only decoded, and Warn is told so.
	Verify bundle.VerifyOptions
	Warn   func(msg string)
}

// Open checks o (errors in it match usage.Err and name replay's flags) and
// reads f into it: the span files, the mesh, checked against the services
// in the spans, and the bundle, verified or decoded as f.Verify says.
func (o *ReplayOptions) Open(ctx context.Context, f ReplayFiles) error {
	switch {
	case o.Dir == "":
		return usage.Errorf("-o is required")
	case o.LoadFactor <= 0 || math.IsNaN(o.LoadFactor) || math.IsInf(o.LoadFactor, 0):
		return usage.Errorf("--load-factor must be > 0, got %g", o.LoadFactor)
	case (o.Adapt || o.Learn) && f.BundlePath == "":
		return usage.Errorf("--adapt and --learn need --bundle")
	case o.Rounds < 1:
		return usage.Errorf("--rounds must be >= 1, got %d", o.Rounds)
	}
	if err := f.Verify.Check(false); err != nil {
		return err
	}
	files, err := ingest.Inputs(f.Inputs)
	if err != nil {
		return err
	}
	o.Files = files
	if f.MeshPath != "" {
		if o.Mesh, err = ReadMesh(f.MeshPath); err != nil {
			return err
		}
		if err := o.Mesh.CheckServices(ctx, files); err != nil {
			return fmt.Errorf("%s: %w", f.MeshPath, err)
		}
		o.MeshName = f.MeshPath
	}
	if f.BundlePath == "" {
		return nil
	}
	op, err := bundle.Open(f.BundlePath, f.Verify)
	if err != nil {
		return err
	}
	o.Bundle = op.Bundle
	if op.Sig != nil {
		o.BundleCheck = "verified: signed by " + op.Sig.Principal
	} else {
		o.BundleCheck = "decoded strictly; signature not checked"
		if f.Warn != nil {
			f.Warn(fmt.Sprintf("warning: %s: %s", f.BundlePath, bundle.NotCheckedWarning))
		}
	}
	return nil
}
