"""Field extraction: URNs, contact details, role, provider, and what the writer wants."""

from __future__ import annotations

from datetime import date

from nlp.extract import choose_urn, extract, find_emails, find_phones, find_role, find_urns

RECEIVED = date(2025, 3, 20)


def test_urns_of_six_and_seven_digits_and_prefixed_urns() -> None:
    assert find_urns("our URN is 123456") == ["123456"]
    assert find_urns("URN: 1234567") == ["1234567"]
    assert find_urns("Little Acorns (EY612093) and Oak House SC048822") == ["EY612093",
                                                                           "SC048822"]
    assert find_urns("registration ey612093") == ["EY612093"]


def test_numbers_that_are_not_urns_are_ignored() -> None:
    assert find_urns("We have 123456 reasons and 2,000 pupils") == []
    assert find_urns("call 020 7946 0958") == []


def test_the_urn_complained_about_is_chosen_over_a_sister_school() -> None:
    text = ("Our sister school, URN 654321, was inspected last year. This complaint is "
            "about our own inspection, URN 123456.")
    assert choose_urn(text) == "123456"
    assert choose_urn("URN 111111, and our partner school URN 222222") == "111111"


def test_valid_uk_phone_numbers_are_found_and_invalid_ones_are_not() -> None:
    assert find_phones("call me on 020 7946 0958 or +44 121 496 0000") == [
        "020 7946 0958", "0121 496 0000"]
    assert find_phones("ref 0000 000 000 and 12345") == []


def test_email_addresses_are_found_and_our_own_mailbox_is_not_the_complainant() -> None:
    assert find_emails("Write to Jo.Bloggs@School.sch.uk.") == ["jo.bloggs@school.sch.uk"]
    found = extract("Sent to enquiries@localhost from jo@example.org", RECEIVED,
                    own_addresses=("enquiries@localhost",))
    assert found.contact.email == "jo@example.org"


def test_roles_from_first_person_phrases() -> None:
    assert find_role("I am the headteacher of Oakfield Primary School.") == "provider"
    assert find_role("My daughter attends the nursery.") == "parent_carer"
    assert find_role("I write as Director of Children's Services.") == "local_authority"
    assert find_role("The inspection happened last week.") is None


FULL = """Dear Sir,
I am the headteacher of Oakfield Primary School (URN 123456). The lead inspector was rude.
The report published on 3rd March says our school requires special measures.
I would like the report to be corrected.
I have already raised this with the lead inspector at the feedback meeting.
I am available on Tuesday afternoons on 020 7946 0958.
Yours sincerely
Jo Bloggs"""


def test_a_full_complaint_gives_every_field() -> None:
    found = extract(FULL, RECEIVED)
    assert found.urn == "123456"
    assert found.provider == "Oakfield Primary School"
    assert found.contact.name == "Jo Bloggs"
    assert found.contact.role == "provider"
    assert found.contact.phone == "020 7946 0958"
    assert found.report_published == date(2025, 3, 3)
    assert found.desired_outcome == "I would like the report to be corrected."
    assert found.actions_taken is not None and "feedback meeting" in found.actions_taken
    assert found.availability is not None and "Tuesday" in found.availability
    assert found.special_measures is True
    assert found.corporate_assessment is False


def test_missing_fields_stay_empty_so_the_letter_asks_for_them() -> None:
    found = extract("The inspector was rude to my staff.", RECEIVED)
    assert found.desired_outcome is None
    assert found.actions_taken is None
    assert found.availability is None
    assert found.contact.name is None
    assert found.urn is None


def test_postal_address_ends_at_the_postcode_and_starts_at_the_street() -> None:
    from nlp.extract import find_address

    letter = "Yours sincerely\nJo Bloggs\n12 High Street\nOakfield\nLeeds LS1 4AB\n"
    assert find_address(letter) == "12 High Street, Oakfield, Leeds LS1 4AB"
    assert find_address("The inspector was rude. URN 123456.") is None


def test_names_stay_on_one_line_and_my_name_is_counts() -> None:
    from nlp.extract import find_name

    assert find_name("Regards\nHannah Oduya\nHeadteacher\nLarkfield") == "Hannah Oduya"
    assert find_name("My name is Sam Green and I am a parent.") == "Sam Green"


def test_roles_from_operators_phone_notes() -> None:
    assert find_role("Caller is a mother, son (3) at Bluebell Pre-School.") == "parent_carer"
    assert find_role("Caller is the registered manager of Oak House.") == "provider"
