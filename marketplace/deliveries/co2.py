"""Estimated CO2 saved by a crowdshipped delivery against a dedicated van trip.

Dedicated van: drives pickup -> drop-off and back, 2 x the direct distance, at 250 g CO2/km
(a diesel light commercial van in city traffic; UK DESNZ/DEFRA 2024 conversion factors give
~0.23-0.27 kg/km for average vans). Crowdshipped: the courier was making the trip anyway, so only
the detour counts, at the courier's vehicle factor: foot, bike and cargo bike 0, car 170 g/km
(average petrol car), van 250 g/km.
"""

from marketplace.accounts.models import VehicleType

DEDICATED_VAN_G_PER_KM = 250
VEHICLE_G_PER_KM: dict[str, int] = {
    VehicleType.FOOT: 0,
    VehicleType.BIKE: 0,
    VehicleType.CARGO_BIKE: 0,
    VehicleType.CAR: 170,
    VehicleType.VAN: 250,
}


def co2_saved_grams(*, direct_distance_m: int, detour_m: int, vehicle_type: str) -> int:
    van = 2 * direct_distance_m / 1000 * DEDICATED_VAN_G_PER_KM
    courier = detour_m / 1000 * VEHICLE_G_PER_KM[vehicle_type]
    return round(van - courier)
