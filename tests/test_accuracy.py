"""Accuracy floors on labelled question sets, through the same decide() the bot uses.

The sets are questions written as enterprise contacts write them (colloquial, typos, greetings,
traditional characters, out-of-scope questions, courtesies), each against its own FAQ, most of them
by writers who saw neither this code nor the other sets. Every model learns from all of them
(bench/train_ranker.py: LEARNED; of the starter's sets, the ranker and verifier from the dev set, the
question prior and the learned vectors from the dev, blind and fresh sets) except the starter holdout
and the twenty-four FAQs written last, in the seventeenth session (bench/train_ranker.py: UNSEEN),
which no model has seen; the floors of the others are in-sample (README gives their figures from
models fitted without them). The seventeenth session refitted the models four times, each time also on
FAQs kept unseen until then (thirty-four, then three sets of eight: 126, 134, 142 and 150 FAQs; a fifth
refit, on 158, was not kept: HISTORY.md), and set
the in-sample floors the refitted models no longer met again as they measured them: in-sample, the
ninety-one FAQs learned from before the session, pooled, fell from 94.1% to 93.0% right (0.52% to
0.64% wrong), while every blind set measured before and after rose. A floor that fails means a change
made the bot worse: look at `python run.py faq eval FILE --misses`.
"""
from pathlib import Path

import pytest

from faq.evaluation import evaluate, load_labelled
from faq.loader import load_faq
from faq.matcher import Matcher

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
STARTER = ROOT / "faq" / "data" / "faq.yaml"

# file, FAQ, floors: right (of answerable), wrong (of all, at most), out-of-scope escalated, courtesies ignored
FLOORS = [
    ("eval_starter_dev.yaml", STARTER, 0.97, 0, 1.00, 0.95),
    ("eval_starter_holdout.yaml", STARTER, 0.93, 0.006, 1.00, 0.95),
    # Written in the fourth session by a helper who saw only each entry's question and answer.
    ("eval_starter_blind.yaml", STARTER, 0.98, 0.006, 0.94, 0.95),
    # Written in the seventh session, one helper seeing each entry's question and answer, one its question only.
    ("eval_starter_fresh_a.yaml", STARTER, 0.99, 0, 1.00, 0.95),
    ("eval_starter_fresh_b.yaml", STARTER, 1.00, 0, 1.00, 0.95),
    ("eval_other.yaml", DATA / "other_faq.yaml", 0.86, 0.007, 0.94, 0.95),
    ("eval_third.yaml", DATA / "third_faq.yaml", 0.93, 0.007, 0.94, 0.95),
    ("eval_fourth.yaml", DATA / "fourth_faq.yaml", 0.89, 0, 1.00, 0.95),
    ("eval_fifth.yaml", DATA / "fifth_faq.yaml", 0.95, 0.007, 0.93, 0.95),
    ("eval_sixth.yaml", DATA / "sixth_faq.yaml", 0.89, 0.018, 0.93, 0.95),
    ("eval_logistics.yaml", DATA / "logistics_faq.yaml", 0.82, 0.014, 0.95, 0.95),
    ("eval_subsidies.yaml", DATA / "subsidies_faq.yaml", 0.85, 0.014, 0.91, 0.95),
    ("eval_retail.yaml", DATA / "retail_faq.yaml", 0.93, 0.013, 0.95, 0.95),
    ("eval_factory.yaml", DATA / "factory_faq.yaml", 0.85, 0.02, 0.91, 0.9),
    ("eval_construction.yaml", DATA / "construction_faq.yaml", 0.82, 0.007, 0.95, 0.95),
    ("eval_labor.yaml", DATA / "labor_faq.yaml", 0.83, 0, 1.00, 0.9),
    ("eval_trade.yaml", DATA / "trade_faq.yaml", 0.79, 0.007, 0.95, 0.9),
    # Written blind in the fifth session, FAQs with 3-5 phrasings per entry.
    ("eval_agri.yaml", DATA / "agri_faq.yaml", 0.94, 0, 1.00, 0.95),
    ("eval_catering.yaml", DATA / "catering_faq.yaml", 0.91, 0.013, 0.91, 0.95),
    ("eval_techpark.yaml", DATA / "techpark_faq.yaml", 0.88, 0, 1.00, 0.95),
    ("eval_mining.yaml", DATA / "mining_faq.yaml", 0.94, 0.007, 0.95, 0.95),
    # Written blind; their misses were read when the aspect list of faq/lexicon.py was written.
    ("eval_office.yaml", DATA / "office_faq.yaml", 0.90, 0, 1.00, 0.9),
    ("eval_food.yaml", DATA / "food_faq.yaml", 0.91, 0, 1.00, 0.9),
    ("eval_medical.yaml", DATA / "medical_faq.yaml", 0.88, 0.007, 0.91, 0.95),
    ("eval_schools.yaml", DATA / "schools_faq.yaml", 0.88, 0.007, 1.00, 0.95),
    ("eval_tourism.yaml", DATA / "tourism_faq.yaml", 0.86, 0, 1.00, 0.95),
    ("eval_auto.yaml", DATA / "auto_faq.yaml", 0.90, 0, 1.00, 0.95),
    ("eval_garment.yaml", DATA / "garment_faq.yaml", 0.90, 0, 1.00, 0.95),
    ("eval_chempark.yaml", DATA / "chempark_faq.yaml", 0.90, 0, 1.00, 0.95),
    ("eval_port.yaml", DATA / "port_faq.yaml", 0.91, 0.021, 0.86, 0.95),
    ("eval_merchant.yaml", DATA / "merchant_faq.yaml", 0.89, 0.007, 0.95, 0.95),
    ("eval_foreign.yaml", DATA / "foreign_faq.yaml", 0.95, 0.007, 0.95, 0.95),
    # Written blind in the fifth session (3-5 phrasings per entry).
    ("eval_electronics.yaml", DATA / "electronics_faq.yaml", 0.90, 0.007, 1.00, 0.95),
    ("eval_express.yaml", DATA / "express_faq.yaml", 0.86, 0.032, 0.87, 0.95),
    ("eval_eldercare.yaml", DATA / "eldercare_faq.yaml", 0.94, 0, 1.00, 0.95),
    ("eval_smefinance.yaml", DATA / "smefinance_faq.yaml", 0.85, 0.019, 0.87, 0.95),
    # Written blind in the sixth session (3-5 phrasings per entry), measured once before any change
    # of that session; their misses were then read when the aspect list was split finer.
    ("eval_hotel.yaml", DATA / "hotel_faq.yaml", 0.94, 0, 1.00, 0.95),
    ("eval_beauty.yaml", DATA / "beauty_faq.yaml", 0.88, 0.007, 1.00, 0.95),
    ("eval_venue.yaml", DATA / "venue_faq.yaml", 0.96, 0, 1.00, 0.95),
    ("eval_transit.yaml", DATA / "transit_faq.yaml", 0.91, 0.007, 1.00, 0.95),
    ("eval_heavyind.yaml", DATA / "heavyind_faq.yaml", 0.95, 0.007, 1.00, 0.95),
    ("eval_printing.yaml", DATA / "printing_faq.yaml", 0.92, 0, 1.00, 0.95),
    # Written blind in the eighth session (3-5 phrasings per entry), measured once before any change
    # of that session; one missed courtesy ("已填报，谢谢") was then read.
    ("eval_county.yaml", DATA / "county_faq.yaml", 0.95, 0.013, 0.87, 0.95),
    ("eval_property.yaml", DATA / "property_faq.yaml", 0.91, 0.013, 0.95, 0.95),
    ("eval_pharma.yaml", DATA / "pharma_faq.yaml", 0.94, 0, 1.00, 0.95),
    # Written blind in the ninth session (3-5 phrasings per entry) and measured once, after that
    # session's changes and before anything else: a development zone's service group, car dealers and
    # repair shops, a furniture cluster. Learned from since the eleventh session.
    ("eval_zone.yaml", DATA / "zone_faq.yaml", 0.97, 0.007, 1.00, 0.95),
    ("eval_autorepair.yaml", DATA / "autorepair_faq.yaml", 0.90, 0.007, 1.00, 0.95),
    ("eval_furniture.yaml", DATA / "furniture_faq.yaml", 0.87, 0, 1.00, 0.95),
    # Written blind late in the ninth session and measured once, with that session's final code: a
    # township's park of small firms, food and cold-chain plants, building materials. Learned from since the eleventh session.
    ("eval_smepark.yaml", DATA / "smepark_faq.yaml", 0.90, 0.007, 1.00, 0.95),
    ("eval_coldfood.yaml", DATA / "coldfood_faq.yaml", 0.94, 0.013, 0.95, 0.95),
    ("eval_buildmat.yaml", DATA / "buildmat_faq.yaml", 0.96, 0, 1.00, 0.95),
    # Written blind in the tenth session and measured once, with that session's final code: a county's
    # shoe factories, an e-commerce and live-streaming park, livestock farms and feed mills. Learned from since the eleventh session.
    ("eval_shoes.yaml", DATA / "shoes_faq.yaml", 0.95, 0.013, 0.91, 0.95),
    ("eval_ecommerce.yaml", DATA / "ecommerce_faq.yaml", 0.95, 0, 1.00, 0.95),
    ("eval_livestock.yaml", DATA / "livestock_faq.yaml", 0.96, 0.007, 1.00, 0.95),
    # Written blind in the eleventh session and measured twice, with the code as the session found it
    # and as it left it: shipyards, tea gardens, housekeeping services, solar panel plants, toy and
    # stationery exporters. Then learned from, once fresh blind FAQs were written to take their place.
    ("eval_shipyard.yaml", DATA / "shipyard_faq.yaml", 0.96, 0, 1.00, 0.95),
    ("eval_tea.yaml", DATA / "tea_faq.yaml", 0.90, 0.019, 0.91, 0.95),
    ("eval_housekeeping.yaml", DATA / "housekeeping_faq.yaml", 0.90, 0.007, 1.00, 0.95),
    ("eval_solar.yaml", DATA / "solar_faq.yaml", 0.97, 0.007, 0.95, 0.95),
    ("eval_toys.yaml", DATA / "toys_faq.yaml", 0.90, 0.007, 0.95, 0.95),
    # Written blind late in the eleventh session and measured twice, with the code as the session found
    # it and as it left it: distilleries, eyewear, cosmetics and hand sanitiser plants, stone
    # processing, call centres and outsourcing. Then learned from, once fresh blind FAQs were written to take their place.
    ("eval_distillery.yaml", DATA / "distillery_faq.yaml", 0.95, 0.013, 0.95, 0.95),
    ("eval_eyewear.yaml", DATA / "eyewear_faq.yaml", 0.92, 0.007, 1.00, 0.95),
    ("eval_cosmetics.yaml", DATA / "cosmetics_faq.yaml", 0.92, 0.019, 0.91, 0.95),
    ("eval_stone.yaml", DATA / "stone_faq.yaml", 0.92, 0.019, 0.91, 0.95),
    ("eval_callcenter.yaml", DATA / "callcenter_faq.yaml", 0.92, 0, 1.00, 0.95),
    # Written blind at the very end of the eleventh session and measured twice, with the code as the
    # session found it and as it left it: driving schools, pet clinics and shops, Chinese herbal medicine,
    # e-bike plants, childcare centres. Learned from since the twelfth session.
    ("eval_driving.yaml", DATA / "driving_faq.yaml", 0.95, 0.007, 0.95, 0.95),
    ("eval_pets.yaml", DATA / "pets_faq.yaml", 0.94, 0, 1.00, 0.95),
    ("eval_herbs.yaml", DATA / "herbs_faq.yaml", 0.94, 0, 1.00, 0.95),
    ("eval_ebike.yaml", DATA / "ebike_faq.yaml", 0.94, 0.013, 0.95, 0.95),
    ("eval_childcare.yaml", DATA / "childcare_faq.yaml", 0.92, 0, 1.00, 0.95),
    # Written blind after the eleventh session's last change and measured twice, with the code as the
    # session found it and as it left it: bakeries, hardware and tools, protective-supply plants,
    # shopping malls, farm stays. Learned from since the twelfth session.
    ("eval_bakery.yaml", DATA / "bakery_faq.yaml", 0.94, 0.007, 0.95, 0.95),
    ("eval_hardware.yaml", DATA / "hardware_faq.yaml", 0.94, 0, 1.00, 0.95),
    ("eval_hospitalsupply.yaml", DATA / "hospitalsupply_faq.yaml", 0.93, 0, 1.00, 0.95),
    ("eval_mall.yaml", DATA / "mall_faq.yaml", 0.94, 0, 1.00, 0.95),
    ("eval_farmstay.yaml", DATA / "farmstay_faq.yaml", 0.94, 0, 1.00, 0.95),
    # Written blind in the twelfth session before any change of that session, and measured twice, with
    # the code as the session found it and as it left it: grain depots and flour mills, ceramics kilns,
    # tutoring centres, flower and nursery growers, dairy farms. Learned from since the seventeenth session.
    ("eval_grain.yaml", DATA / "grain_faq.yaml", 0.91, 0.007, 0.95, 0.95),
    ("eval_ceramics.yaml", DATA / "ceramics_faq.yaml", 0.88, 0.019, 0.91, 0.95),
    ("eval_tutoring.yaml", DATA / "tutoring_faq.yaml", 0.80, 0.026, 0.87, 0.95),
    ("eval_flowers.yaml", DATA / "flowers_faq.yaml", 0.86, 0.026, 1.00, 0.95),
    ("eval_dairy.yaml", DATA / "dairy_faq.yaml", 0.80, 0.038, 0.83, 0.95),
    # Written blind alongside them and measured the same way: plastics and injection moulding, lithium
    # batteries, wet markets, petrol stations, luggage and leather goods. Learned from since the seventeenth session.
    ("eval_plastics.yaml", DATA / "plastics_faq.yaml", 0.91, 0.013, 0.91, 0.95),
    ("eval_battery.yaml", DATA / "battery_faq.yaml", 0.87, 0.007, 1.00, 0.95),
    ("eval_wetmarket.yaml", DATA / "wetmarket_faq.yaml", 0.82, 0.026, 0.91, 0.95),
    ("eval_gasstation.yaml", DATA / "gasstation_faq.yaml", 0.79, 0.007, 1.00, 0.95),
    ("eval_luggage.yaml", DATA / "luggage_faq.yaml", 0.91, 0.013, 0.91, 0.95),
    # Written blind after the twelfth session's last change and measured twice, with the code as the
    # session found it and as it left it: bathhouses and foot-massage parlours, glassworks, fireworks,
    # car rental and ride-hailing fleets, confinement centres. Learned from since the seventeenth session.
    ("eval_bathhouse.yaml", DATA / "bathhouse_faq.yaml", 0.91, 0, 1.00, 0.95),
    ("eval_glass.yaml", DATA / "glass_faq.yaml", 0.91, 0.019, 0.95, 0.95),
    ("eval_fireworks.yaml", DATA / "fireworks_faq.yaml", 0.88, 0.007, 0.95, 0.95),
    ("eval_carrental.yaml", DATA / "carrental_faq.yaml", 0.82, 0.013, 0.95, 0.95),
    ("eval_confinement.yaml", DATA / "confinement_faq.yaml", 0.73, 0.019, 0.95, 0.95),
    # Written blind in the thirteenth session and measured twice, after its last change to the matcher,
    # with the code as the session found it and as it left it: lift maintenance, laundries and linen
    # services, seed and fertiliser dealers, bookshops, accounting firms; car parks and car washes,
    # bookkeeping agencies, water, sewage and gas utilities. Then learned from, once fresh blind FAQs
    # were written to take their place.
    ("eval_elevator.yaml", DATA / "elevator_faq.yaml", 0.94, 0.019, 0.87, 0.95),
    ("eval_laundry.yaml", DATA / "laundry_faq.yaml", 0.93, 0.013, 0.91, 0.95),
    ("eval_seeds.yaml", DATA / "seeds_faq.yaml", 0.93, 0.019, 0.95, 0.95),
    ("eval_bookstore.yaml", DATA / "bookstore_faq.yaml", 0.95, 0.007, 0.95, 0.95),
    ("eval_accounting.yaml", DATA / "accounting_faq.yaml", 0.97, 0.013, 0.91, 0.95),
    ("eval_parking.yaml", DATA / "parking_faq.yaml", 0.95, 0.013, 0.91, 0.95),
    ("eval_bookkeeping.yaml", DATA / "bookkeeping_faq.yaml", 0.92, 0.026, 0.83, 0.95),
    ("eval_waterworks.yaml", DATA / "waterworks_faq.yaml", 0.98, 0.007, 0.95, 0.95),
    # Written blind at the end of the thirteenth session, after its last change (the models' learning
    # from the eight above), and measured then: florists and wedding services, print and copy shops,
    # air-conditioning installers, parcel lockers and pick-up points. Learned from since the seventeenth session.
    ("eval_florist.yaml", DATA / "florist_faq.yaml", 0.92, 0.038, 0.83, 0.95),
    ("eval_printshop.yaml", DATA / "printshop_faq.yaml", 0.94, 0.013, 0.91, 0.95),
    ("eval_hvac.yaml", DATA / "hvac_faq.yaml", 0.85, 0.051, 0.79, 0.95),
    ("eval_lockers.yaml", DATA / "lockers_faq.yaml", 0.90, 0.026, 0.83, 0.95),
    # Written blind in the fourteenth session and measured once, after its last change: estate agencies,
    # private dental clinics, internet cafes, photo studios, removal firms, car washes. Learned from since the seventeenth session.
    ("eval_realty.yaml", DATA / "realty_faq.yaml", 0.91, 0.019, 0.91, 0.95),
    ("eval_dental.yaml", DATA / "dental_faq.yaml", 0.94, 0.045, 0.75, 0.95),
    ("eval_netcafe.yaml", DATA / "netcafe_faq.yaml", 0.96, 0.026, 0.87, 0.95),
    ("eval_studio.yaml", DATA / "studio_faq.yaml", 0.94, 0.038, 0.75, 0.95),
    ("eval_moving.yaml", DATA / "moving_faq.yaml", 0.94, 0.045, 0.75, 0.95),
    ("eval_carwash.yaml", DATA / "carwash_faq.yaml", 0.90, 0.032, 0.79, 0.92),
    # Written blind in the fifteenth session and measured once with the code as the session found it
    # and as it left it (the same decisions): retail pharmacies, taxi and ride-hailing firms. Learned from since the seventeenth session.
    ("eval_drugstore.yaml", DATA / "drugstore_faq.yaml", 0.84, 0.019, 0.91, 0.95),
    ("eval_taxi.yaml", DATA / "taxi_faq.yaml", 0.95, 0, 0.95, 0.95),
    # Written blind in the sixteenth session and measured once with the code as the session found it:
    # karaoke and entertainment venues, funeral services, wedding services, amusement parks. Their misses
    # were then read, and the "statistics" aspect (faq/lexicon.py) came of two of them. Learned from since the seventeenth session.
    ("eval_karaoke.yaml", DATA / "karaoke_faq.yaml", 0.87, 0.038, 0.79, 0.95),
    ("eval_funeral.yaml", DATA / "funeral_faq.yaml", 0.90, 0.013, 0.95, 0.95),
    ("eval_wedding.yaml", DATA / "wedding_faq.yaml", 0.93, 0.013, 0.95, 0.95),
    ("eval_amusement.yaml", DATA / "amusement_faq.yaml", 0.79, 0.019, 0.91, 0.95),
    # Written blind at the end of the sixteenth session and measured once, after its last change (the
    # code as the session found it gives the same figures): used-car markets, milk-tea shops and cafés,
    # security-guard firms. Learned from since the seventeenth session.
    ("eval_usedcars.yaml", DATA / "usedcars_faq.yaml", 0.87, 0.013, 0.95, 0.95),
    ("eval_milktea.yaml", DATA / "milktea_faq.yaml", 0.86, 0.013, 0.95, 0.95),
    ("eval_security.yaml", DATA / "security_faq.yaml", 0.89, 0.019, 0.87, 0.95),
    # Written blind at the start of the seventeenth session and measured once with the code as the session
    # found it (87.1% right, 2.69% wrong, 85.4% escalated, pooled) and once with the models refitted on the
    # thirty-four FAQs unseen until then (88.5%, 1.27%, 92.2%): jewellers, phone repair shops, law firms, escape
    # rooms and script-murder shops, a city gas utility, foundries, feed mills, swimming pools. Then learned
    # from, once the eight below were written to take their place: the floors are in-sample.
    ("eval_jewelry.yaml", DATA / "jewelry_faq.yaml", 0.97, 0, 1.00, 0.95),
    ("eval_phonerepair.yaml", DATA / "phonerepair_faq.yaml", 0.96, 0.013, 0.95, 0.95),
    ("eval_lawfirm.yaml", DATA / "lawfirm_faq.yaml", 0.95, 0, 1.00, 0.95),
    ("eval_escape.yaml", DATA / "escape_faq.yaml", 0.97, 0.007, 0.95, 0.95),
    ("eval_gas.yaml", DATA / "gas_faq.yaml", 0.95, 0, 1.00, 0.95),
    ("eval_foundry.yaml", DATA / "foundry_faq.yaml", 0.95, 0, 1.00, 0.95),
    ("eval_feedmill.yaml", DATA / "feedmill_faq.yaml", 0.94, 0, 0.95, 0.95),
    ("eval_swimming.yaml", DATA / "swimming_faq.yaml", 0.95, 0, 1.00, 0.95),
    # Written blind in the seventeenth session, after the eight above, and measured once with each of the
    # session's models: fitted on 92 FAQs (86.1% right, 3.32% wrong, 80.7% escalated, pooled), on 126
    # (88.2%, 1.98%, 90.1%) and on 134, the eight above among them (89.2%, 1.42%, 92.2%): slaughterhouses and meat
    # plants, chip packaging and test plants, community group-buying and fresh-food delivery, museums and
    # libraries, sanitation and waste firms, software firms, rubber and tyre plants, cement and concrete
    # plants. Then learned from, once the eight below were written to take their place: the floors are in-sample.
    ("eval_meat.yaml", DATA / "meat_faq.yaml", 0.97, 0, 1.00, 0.95),
    ("eval_chips.yaml", DATA / "chips_faq.yaml", 0.99, 0, 1.00, 0.95),
    ("eval_grocery.yaml", DATA / "grocery_faq.yaml", 0.95, 0, 1.00, 0.95),
    ("eval_museums.yaml", DATA / "museums_faq.yaml", 0.99, 0, 1.00, 0.95),
    ("eval_sanitation.yaml", DATA / "sanitation_faq.yaml", 0.94, 0.007, 0.95, 0.95),
    ("eval_software.yaml", DATA / "software_faq.yaml", 0.96, 0.007, 0.95, 0.95),
    ("eval_rubber.yaml", DATA / "rubber_faq.yaml", 0.95, 0, 1.00, 0.95),
    ("eval_cement.yaml", DATA / "cement_faq.yaml", 0.98, 0, 1.00, 0.95),
    # Written blind third in the seventeenth session and measured once with each of the session's models:
    # fitted on 92 FAQs (85.8% right, 3.24% wrong, 79.2% escalated, pooled), on 126 (88.0%, 1.82%, 89.1%),
    # on 134 (89.4%, 1.19%, 93.2%) and on 142, the sixteen above among them (90.2%, 0.79%, 95.3%): private
    # hospitals and clinics, bus and coach companies, hotpot and Chinese restaurants,
    # knitwear mills, warehouses and cold stores, mould makers, private kindergartens, hardware and
    # building-material shops. Then learned from, once the eight below were written to take their place:
    # the floors are in-sample.
    ("eval_hospital.yaml", DATA / "hospital_faq.yaml", 0.95, 0, 1.00, 0.95),
    ("eval_bus.yaml", DATA / "bus_faq.yaml", 0.95, 0, 1.00, 0.95),
    ("eval_hotpot.yaml", DATA / "hotpot_faq.yaml", 0.98, 0, 1.00, 0.95),
    ("eval_textile.yaml", DATA / "textile_faq.yaml", 0.99, 0.007, 0.95, 0.95),
    ("eval_warehouse.yaml", DATA / "warehouse_faq.yaml", 0.93, 0.007, 1.00, 0.95),
    ("eval_moulds.yaml", DATA / "moulds_faq.yaml", 0.98, 0, 1.00, 0.95),
    ("eval_nursery.yaml", DATA / "nursery_faq.yaml", 0.97, 0, 1.00, 0.95),
    ("eval_hardwarestore.yaml", DATA / "hardwarestore_faq.yaml", 0.96, 0, 1.00, 0.95),
    # Written blind in the seventeenth session after the eight above, and measured once with the models
    # fitted on 92 FAQs (88.1% right, 3.32% wrong, 80.7% escalated, pooled), on 142 (90.2%, 1.34%, 92.2%)
    # and on 150, the eight above among them (these floors; 91.5%, 1.19%, 94.3%): condiment and soy-sauce
    # plants, beverage and bottled-water plants, sanitaryware plants, wire and cable plants, sports-goods
    # plants, home-textile mills, a fruit wholesale market, car-parts plants. No model learned from them.
    ("eval_condiments.yaml", DATA / "condiments_faq.yaml", 0.94, 0, 1.00, 0.95),
    ("eval_beverages.yaml", DATA / "beverages_faq.yaml", 0.92, 0.019, 0.95, 0.95),
    ("eval_sanitaryware.yaml", DATA / "sanitaryware_faq.yaml", 0.91, 0.013, 0.95, 0.95),
    ("eval_cables.yaml", DATA / "cables_faq.yaml", 0.90, 0.013, 0.91, 0.95),
    ("eval_sportsgoods.yaml", DATA / "sportsgoods_faq.yaml", 0.93, 0, 1.00, 0.95),
    ("eval_hometextiles.yaml", DATA / "hometextiles_faq.yaml", 0.88, 0.007, 0.95, 0.95),
    ("eval_fruitmarket.yaml", DATA / "fruitmarket_faq.yaml", 0.91, 0.026, 0.87, 0.95),
    ("eval_carparts.yaml", DATA / "carparts_faq.yaml", 0.90, 0.019, 0.87, 0.95),
    # Written blind in the seventeenth session after the eight above, and measured once with the models
    # fitted on 92 FAQs (88.0% right, 3.09% wrong, 84.4% escalated, pooled), on 150 (these floors; 91.7%,
    # 0.55%, 98.4%) and on 158, the eight above among them (92.9%, 0.71%, 97.9%; not kept): optical shops, bike- and e-bike-sharing operators, paper-cup and tableware plants,
    # pet-food plants, tyre and quick-repair shops, dance and yoga studios, timber and plywood mills,
    # seafood plants. No model learned from them.
    ("eval_opticalshop.yaml", DATA / "opticalshop_faq.yaml", 0.93, 0.007, 0.95, 0.95),
    ("eval_bikeshare.yaml", DATA / "bikeshare_faq.yaml", 0.90, 0, 1.00, 0.95),
    ("eval_papercups.yaml", DATA / "papercups_faq.yaml", 0.90, 0.013, 0.95, 0.95),
    ("eval_petfood.yaml", DATA / "petfood_faq.yaml", 0.92, 0.007, 1.00, 0.95),
    ("eval_tyreshop.yaml", DATA / "tyreshop_faq.yaml", 0.90, 0, 1.00, 0.95),
    ("eval_studios.yaml", DATA / "studios_faq.yaml", 0.90, 0.007, 1.00, 0.95),
    ("eval_timber.yaml", DATA / "timber_faq.yaml", 0.90, 0.013, 0.95, 0.95),
    ("eval_seafood.yaml", DATA / "seafood_faq.yaml", 0.94, 0, 1.00, 0.95),
    # Written blind last in the seventeenth session, after its last refit, and measured once with the models
    # fitted on 92 FAQs (85.5% right, 3.56% wrong, 82.3% escalated, pooled) and on 150 (these floors; 90.7%,
    # 1.19%, 96.9%): campsites and RV parks, e-sports venues, health-food plants, pesticide plants,
    # steel-structure fabricators, bridal shops, drug wholesalers, parcel hubs. No model learned from them.
    ("eval_campsites.yaml", DATA / "campsites_faq.yaml", 0.90, 0.019, 0.95, 0.95),
    ("eval_esports.yaml", DATA / "esports_faq.yaml", 0.93, 0.007, 1.00, 0.95),
    ("eval_healthfoods.yaml", DATA / "healthfoods_faq.yaml", 0.95, 0, 1.00, 0.95),
    ("eval_pesticides.yaml", DATA / "pesticides_faq.yaml", 0.91, 0.026, 0.91, 0.95),
    ("eval_steelframe.yaml", DATA / "steelframe_faq.yaml", 0.93, 0, 1.00, 0.95),
    ("eval_bridal.yaml", DATA / "bridal_faq.yaml", 0.90, 0.019, 0.91, 0.95),
    ("eval_medwholesale.yaml", DATA / "medwholesale_faq.yaml", 0.88, 0.007, 1.00, 0.95),
    ("eval_parcelhub.yaml", DATA / "parcelhub_faq.yaml", 0.83, 0.019, 0.95, 0.95),
    # Written blind in the twelfth session as more to learn from: wood-based panels, edible fungi, gyms,
    # cinemas and entertainment venues, cotton spinning, staffing agencies.
    ("eval_wood.yaml", DATA / "wood_faq.yaml", 0.89, 0.007, 1.00, 0.95),
    ("eval_mushrooms.yaml", DATA / "mushrooms_faq.yaml", 0.94, 0.013, 0.91, 0.95),
    ("eval_gyms.yaml", DATA / "gyms_faq.yaml", 0.92, 0, 1.00, 0.95),
    ("eval_cinemas.yaml", DATA / "cinemas_faq.yaml", 0.93, 0.007, 0.95, 0.95),
    ("eval_spinning.yaml", DATA / "spinning_faq.yaml", 0.92, 0, 1.00, 0.95),
    ("eval_staffing.yaml", DATA / "staffing_faq.yaml", 0.87, 0.007, 0.95, 0.95),
    # Written blind in the eleventh session as more to learn from (measured once first, with the code
    # as the session found it): textile dyeing, home renovation, machining, recycling, paper and
    # packaging, aquaculture; then advertising and exhibitions, wholesale markets.
    ("eval_dyeing.yaml", DATA / "dyeing_faq.yaml", 0.93, 0, 1.00, 0.95),
    ("eval_renovation.yaml", DATA / "renovation_faq.yaml", 0.95, 0.007, 0.95, 0.95),
    ("eval_machining.yaml", DATA / "machining_faq.yaml", 0.95, 0.02, 0.87, 0.95),
    ("eval_recycling.yaml", DATA / "recycling_faq.yaml", 0.93, 0.007, 0.95, 0.95),
    ("eval_paper.yaml", DATA / "paper_faq.yaml", 0.90, 0.007, 0.95, 0.95),
    ("eval_aquaculture.yaml", DATA / "aquaculture_faq.yaml", 0.97, 0.007, 1.00, 0.95),
    ("eval_ads.yaml", DATA / "ads_faq.yaml", 0.91, 0.013, 0.91, 0.95),
    ("eval_wholesale.yaml", DATA / "wholesale_faq.yaml", 0.96, 0.02, 0.91, 0.95),
]


@pytest.mark.parametrize("questions, faq_path, right, wrong, escalated, ignored", FLOORS, ids=[f[0] for f in FLOORS])
def test_accuracy_floor(questions, faq_path, right, wrong, escalated, ignored):
    report = evaluate(Matcher(load_faq(faq_path)), load_labelled(DATA / questions))
    summary = report.summary()
    assert report.right_rate >= right, summary
    assert report.wrong_rate <= wrong, summary
    assert report.escalated_rate >= escalated, summary
    assert report.ignored_rate >= ignored, summary


def test_labelled_sets_name_real_entries():
    for questions, faq_path, *_ in FLOORS:
        ids = {e.id for e in load_faq(faq_path).entries}
        for item in load_labelled(DATA / questions):
            assert item.expect in ids | {"escalate", "ignore"}, (questions, item)
