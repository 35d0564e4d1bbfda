"""Common given names (English-speaking and European countries), used to find person names that the NER
model misses because they are written in lower case or all capitals. Ambiguous words (e.g. "will", "may",
"rose") are listed separately and only count when followed by a surname-like word."""

from __future__ import annotations

GIVEN_NAMES = frozenset(
    """
aaron abigail adam adrian agnes aidan alan albert alberto alejandro alex alexander alexandra alexis alfred
alice alicia alison allison amanda amber amelia amy ana andrea andreas andrew angela angelica anita ann anna
anne annette anthony antonio arthur ashley audrey austin barbara beatrice becky benjamin bernard beth betty
beverly billy bobby bonnie brad bradley brandon brenda brian brittany bruce bryan caitlin cameron camila
carl carla carlos carmen carol caroline carolyn catherine cecilia charles charlotte chelsea cheryl chloe
chris christian christina christine christopher cindy claire clara claudia colin connor courtney craig
crystal cynthia dale daniel daniela danielle david dean deborah debra denise dennis derek diana diane diego
dmitri dominic donald donna dorothy douglas dylan edith eduardo edward eileen elaine eleanor elena elias
elijah elizabeth ella ellen emilia emily emma eric erica erik erin ethan eugene eva evelyn fatima felix
fernando fiona florence francesca francis francisco frank franz frederick gabriel gabriela gail gary
george georgia gerald giorgio giovanni giulia gloria gordon grace greg gregory hannah harold harriet harry
heather heidi helen helena henry hugo ian irene isaac isabel isabella ivan jacob jacqueline james jamie jan
jane janet janice jason javier jean jeffrey jennifer jeremy jerry jesse jessica jill joan joanna joe joel
johann johanna john jonathan jordan jorge jose joseph joshua joyce juan judith judy julia julian julie
justin karen karin katherine kathleen kathryn kathy katie kayla keith kelly kenneth kevin kimberly kyle
larry laura lauren lawrence leah leonardo leslie liam lillian linda lindsay lisa logan lori louis louise
lucas lucia lucy luis luke lynn madison maria marie marilyn mario marion marjorie markus martha martin
mary mason matthew maureen megan melanie melissa michael michelle miguel mike mildred mohammed monica
muhammad nancy natalie nathan nicholas nicole nina noah norma oliver olivia oscar pablo pamela patricia
patrick paul paula pedro peter philip phillip phyllis rachel rafael ralph randy raymond rebecca regina
richard ricardo rita robert roberta roberto robin roger ronald rosa ruth ryan samantha samuel sandra sara
sarah scott sean sebastian sergio sharon shawn sheila shirley simon sofia sophia sophie stacy stefan
stephanie stephen steven susan suzanne sylvia tammy tanya teresa terry theresa thomas tiffany timothy tina
todd tom tommy tony tracy travis tyler valerie vanessa veronica victor victoria vincent virginia walter
wayne wendy william willie yvonne zachary
""".split()
)

AMBIGUOUS_GIVEN_NAMES = frozenset(
    """
april art bill bob dawn don faith frank grant hope iris ivy jack jewel joy june mark max may pat penny
rich rose ruby sky summer will
""".split()
)

# Words that end a candidate surname: a given name followed by one of these is not a full name.
NOT_SURNAMES = frozenset(
    """
a about after again all also am an and any are as at be because been before being but by can could did do
does doing for from had has have having he her here hers him his how i if in into is it its just like me
more most my no nor not now of off on once only or other our out over own said same she should so some
such than that the their them then there these they this those through to too under until up very was we
were what when where which while who whom why will with would you your yours please thanks thank hi hello
hey dear regards cheers yes ok okay sir madam
""".split()
)
