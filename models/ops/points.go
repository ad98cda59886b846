package ops

import (
	"context"

	"nantian/models"
	"nantian/models/points"
)

// Audit action names of the points operations (see ActionProgramCreate).
const (
	ActionDeviceCreate  = "POST /api/v1/staff/devices"
	ActionDeviceDisable = "POST /api/v1/staff/devices/:id/disable"
	ActionDeviceEnable  = "POST /api/v1/staff/devices/:id/enable"
	ActionDeviceRotate  = "POST /api/v1/staff/devices/:id/rotate-secret"
	ActionRewardCreate  = "POST /api/v1/staff/rewards"
	ActionRewardPatch   = "PATCH /api/v1/staff/rewards/:id"
	ActionFulfil        = "POST /api/v1/staff/redemptions/:pickup_code/fulfil"
	ActionAdjust        = "POST /api/v1/staff/points/adjustments"
)

// Points are the staff operations of the food-waste points: bins, rewards,
// pickups and corrections.
type Points struct {
	rec     recorder
	devices *points.Devices
	points  *points.Points
}

// CreateDevice registers a bin; its secret is returned this once and never
// written to the audit log.
func (o *Points) CreateDevice(ctx context.Context, actor models.Actor, in points.DeviceInput) (points.Device, string, error) {
	if err := staffOnly(actor); err != nil {
		return points.Device{}, "", err
	}
	a := attempt{action: ActionDeviceCreate, input: in, ok: 201}
	d, secret, err := o.devices.Create(ctx, actor.UserID, in)
	o.rec.done(ctx, actor, a, d, err)
	return d, secret, err
}

// SetDeviceStatus disables a bin (its events are refused from then on) or
// enables it again (to is points.DeviceDisabled or points.DeviceActive).
func (o *Points) SetDeviceStatus(ctx context.Context, actor models.Actor, id int64, to string) (points.Device, error) {
	action := ActionDeviceEnable
	if to == points.DeviceDisabled {
		action = ActionDeviceDisable
	}
	return run(ctx, o.rec, actor, staffOnly,
		func() attempt {
			return attempt{action: action, target: idTarget(id), before: orNil(o.devices.Get(ctx, id))}
		},
		func() (points.Device, error) { return o.devices.SetStatus(ctx, id, to) })
}

// RotateDevice issues a bin a new secret (the old one stops at once); the
// secret is returned, not audited.
func (o *Points) RotateDevice(ctx context.Context, actor models.Actor, id int64) (points.Device, string, error) {
	if err := staffOnly(actor); err != nil {
		return points.Device{}, "", err
	}
	a := attempt{action: ActionDeviceRotate, target: idTarget(id), before: orNil(o.devices.Get(ctx, id))}
	d, secret, err := o.devices.Rotate(ctx, id)
	o.rec.done(ctx, actor, a, d, err)
	return d, secret, err
}

// CreateReward adds a reward.
func (o *Points) CreateReward(ctx context.Context, actor models.Actor, in points.RewardInput) (points.Reward, error) {
	return run(ctx, o.rec, actor, staffOnly,
		func() attempt { return attempt{action: ActionRewardCreate, input: in, ok: 201} },
		func() (points.Reward, error) { return o.points.CreateReward(ctx, in) })
}

// PatchReward edits a reward (name, cost, stock, on the shelf or not).
func (o *Points) PatchReward(ctx context.Context, actor models.Actor, id int64, p points.RewardPatch) (points.Reward, error) {
	return run(ctx, o.rec, actor, staffOnly,
		func() attempt {
			return attempt{action: ActionRewardPatch, target: idTarget(id), input: p, before: orNil(o.points.GetReward(ctx, id))}
		},
		func() (points.Reward, error) { return o.points.PatchReward(ctx, id, p) })
}

// Fulfil hands a reward over by its pickup code.
func (o *Points) Fulfil(ctx context.Context, actor models.Actor, code string) (points.Redemption, error) {
	return run(ctx, o.rec, actor, staffOnly,
		func() attempt { return attempt{action: ActionFulfil, target: "pickup_code=" + code} },
		func() (points.Redemption, error) { return o.points.Fulfil(ctx, actor.UserID, code) })
}

// Adjust records a signed correction of a resident's points with a reason.
func (o *Points) Adjust(ctx context.Context, actor models.Actor, in points.AdjustmentInput) (points.LedgerEntry, error) {
	return run(ctx, o.rec, actor, staffOnly,
		func() attempt { return attempt{action: ActionAdjust, input: in, ok: 201} },
		func() (points.LedgerEntry, error) { return o.points.Adjust(ctx, actor.UserID, in) })
}
