"""The delivery lifecycle: every flow that changes more than one app, read in order.

The domain apps below (parcels, trips, matching, deliveries, payments, returns, ...) each change
their own rows. What follows a change elsewhere (a parcel cancelled: its offers withdrawn, its
delivery cancelled, its payment refunded, its return called off) is written here once, as a
function per step of the lifecycle, holding the locks in the codebase's order and scheduling
the follow-up tasks after commit. Web pages, the API, the admin and tasks call these.

    posting      a shipper posts (edits, publishes) a parcel; a courier posts a trip
    paying       the shipper pays; a paid parcel opens to couriers
    matching     a courier accepts or declines an offer; offers and parcels expire
    delivering   the trip starts; pickup, transit, delivery, a failed attempt, handing back
    cancelling   the shipper, the courier or an admin cancels a parcel, a delivery or a trip
    returning    a parcel goes back to its sender as a reverse parcel
    steps        what every flow shares: a parcel's or trip's move and what it pulls along
    stripe_webhooks, tasks   Stripe's events and the periodic sweeps that drive the above

docs/architecture.md draws the layers and the lock order.
"""
