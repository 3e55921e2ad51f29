"""Name lists and spelling variants for the synthetic population (data only, no logic beyond
small string helpers).

Why a data module: the generator must produce names the way German offices really write them.
Newcomers' names reach each office through a different transliteration (passport, interpreter,
an older Russian-style spelling), so one person is "Oleksandr" at the Ausländerbehörde and
"Alexander" at the Jobcenter. The variant families below are what the linkage has to survive.

Rules for the lists (checked by tests):
- Latin script only, and only characters Windows-1252 can hold (three agencies deliver cp1252):
  Turkish, Polish and Romanian names are given in the usual German-office transliteration
  (Yilmaz, Lukasz, Stefan), German umlauts and ß are kept.
- No name that is also an everyday German/English word or a place name of the district: the
  end-to-end privacy test searches every output for written names as whole words.
"""

from __future__ import annotations

from dataclasses import dataclass

ORIGINS: tuple[str, ...] = (
    "DEU",
    "SYR",
    "AFG",
    "UKR",
    "TUR",
    "POL",
    "ROU",
    "IRQ",
    "ERI",
    "RUS",
    "VNM",
    "BGR",
)
EU_ORIGINS = frozenset({"POL", "ROU", "BGR"})
ASYLUM_ORIGINS = frozenset({"SYR", "AFG", "IRQ", "ERI"})


@dataclass(frozen=True)
class NamePool:
    """Given names by sex and family names (masculine form) of one origin."""

    male: tuple[str, ...]
    female: tuple[str, ...]
    family: tuple[str, ...]


# German given names follow fashions: three generations (born before 1965, 1965-1989, 1990 or
# later); most Germans get a name of their generation.
GERMAN_GENERATION_BOUNDS = (1965, 1990)
_DEU_MALE: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] = (
    (
        "Klaus",
        "Wolfgang",
        "Manfred",
        "Dieter",
        "Günter",
        "Lothar",
        "Heinz",
        "Gerd",
        "Horst",
        "Siegfried",
        "Werner",
        "Rainer",
        "Hartmut",
        "Joachim",
        "Eberhard",
        "Reinhard",
    ),
    (
        "Thomas",
        "Michael",
        "Andreas",
        "Stefan",
        "Jürgen",
        "Torsten",
        "Matthias",
        "Sven",
        "Jens",
        "Dirk",
        "Ralf",
        "Mario",
        "René",
        "Marcel",
        "Ronny",
        "Steffen",
        "Maik",
        "Jörg",
        "Björn",
        "Sören",
        "Kevin",
        "Enrico",
    ),
    (
        "Lukas",
        "Leon",
        "Finn",
        "Jonas",
        "Paul",
        "Elias",
        "Noah",
        "Felix",
        "Emil",
        "Luca",
        "Anton",
        "Oskar",
        "Karl",
        "Theo",
        "Sebastian",
        "Christian",
        "Daniel",
        "Tobias",
        "Florian",
        "Martin",
        "Niklas",
        "Moritz",
    ),
)
_DEU_FEMALE: tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] = (
    (
        "Ursula", "Renate", "Monika", "Brigitte", "Gisela", "Helga", "Ingrid", "Bärbel",
        "Käthe", "Ilse", "Christa", "Erika", "Gudrun", "Waltraud", "Hannelore", "Marianne",
    ),
    (
        "Sabine", "Petra", "Andrea", "Susanne", "Kerstin", "Heike", "Katrin", "Claudia", "Anja",
        "Nicole", "Manuela", "Silke", "Jana", "Doreen", "Mandy", "Peggy", "Yvonne", "Cindy",
        "Jacqueline", "Ramona", "Ines", "Antje",
    ),
    (
        "Emma", "Hannah", "Sophie", "Marie", "Lina", "Emilia", "Ella", "Clara", "Leni", "Mila",
        "Greta", "Frieda", "Johanna", "Luise", "Charlotte", "Julia", "Stefanie", "Christin",
        "Sandra", "Nadine", "Franziska", "Lea",
    ),
)  # fmt: skip


def german_generation_slices(female: bool) -> tuple[tuple[int, int], ...]:
    """(start, stop) of each generation within the DEU male/female pool."""
    gens = _DEU_FEMALE if female else _DEU_MALE
    out, start = [], 0
    for g in gens:
        out.append((start, start + len(g)))
        start += len(g)
    return tuple(out)


_ARABIC_MALE = (
    "Mohammed", "Ahmad", "Mahmoud", "Khaled", "Yusuf", "Hussein", "Hassan", "Abdullah", "Omar",
    "Mustafa", "Ibrahim", "Ismail", "Yasin", "Bilal", "Karim", "Tarek", "Walid", "Samer",
    "Nabil", "Fadi", "Hamza", "Jamal", "Majd", "Wael", "Anas", "Zaid", "Abdulrahman", "Amir",
)  # fmt: skip
_ARABIC_FEMALE = (
    "Fatima", "Aisha", "Maryam", "Zainab", "Nour", "Layla", "Rania", "Huda", "Amina", "Yasmin",
    "Rasha", "Hiba", "Dima", "Reem", "Salma", "Asma", "Lamia", "Ghazal", "Nisreen", "Rahaf",
    "Batoul", "Joudi", "Hanan", "Samira", "Widad", "Bushra",
)  # fmt: skip

# fmt: off
POOLS: dict[str, NamePool] = {
    "DEU": NamePool(
        male=_DEU_MALE[0] + _DEU_MALE[1] + _DEU_MALE[2],
        female=_DEU_FEMALE[0] + _DEU_FEMALE[1] + _DEU_FEMALE[2],
        family=(
            "Müller", "Schmidt", "Schneider", "Fischer", "Meyer", "Weber", "Wagner", "Becker",
            "Hoffmann", "Schäfer", "Richter", "Schröder", "Neumann", "Zimmermann", "Krüger",
            "Hofmann", "Hartmann", "Schmitt", "Werner", "Krause", "Meier", "Lehmann", "Schmid",
            "Köhler", "Herrmann", "Walter", "Mayer", "Huber", "Kaiser", "Peters", "Scholz",
            "Möller", "Weiß", "Schubert", "Friedrich", "Günther", "Berger", "Winkler", "Lorenz",
            "Baumann", "Albrecht", "Schuster", "Ludwig", "Böhm", "Schumacher", "Krämer", "Vogt",
            "Jäger", "Seidel", "Heinrich", "Brandt", "Schreiber", "Dietrich", "Ziegler", "Kühn",
            "Pohl", "Bergmann", "Voigt", "Arnold", "Pfeiffer", "Noack", "Matschke", "Krautz",
            "Domaschke", "Kschenka", "Voß", "Strauß", "Lehnigk", "Schulze-Brandt", "Meyer-Lindner",
        ),
    ),
    "SYR": NamePool(
        male=_ARABIC_MALE,
        female=_ARABIC_FEMALE,
        family=(
            "Al-Hassan", "Al-Ahmad", "Al-Khalil", "Al-Masri", "Al-Ali", "Al-Najjar", "Abu Zaid",
            "Haddad", "Khalil", "Hamdan", "Mansour", "Darwish", "Othman", "Saleh", "Suleiman",
            "Abboud", "Kassem", "Nasser", "Jaber", "Hamoud", "Ibrahim", "Yousef", "Hijazi",
            "Halabi", "Shami", "Kanaan", "Issa", "Aziz", "Al-Sheikh", "El-Sayed",
        ),
    ),
    "IRQ": NamePool(
        male=(
            "Mohammed", "Ahmad", "Hussein", "Haider", "Abbas", "Mustafa", "Ammar", "Sajjad",
            "Murtadha", "Omar", "Yusuf", "Karim", "Hassan", "Khaled", "Salman", "Qasim", "Murad",
            "Ibrahim", "Dilshad", "Rebwar", "Shivan", "Hamad", "Zaid", "Mahmoud",
        ),
        female=(
            "Zahraa", "Noor", "Fatima", "Zainab", "Maryam", "Ruqaya", "Shahad", "Tabarak",
            "Hawraa", "Duaa", "Amina", "Layla", "Huda", "Nour", "Shilan", "Bahar", "Nazdar",
            "Rojin", "Aisha", "Rasha", "Samira", "Hanan",
        ),
        family=(
            "Al-Jubouri", "Al-Obaidi", "Kareem", "Jasim", "Abbas", "Kadhim", "Al-Rubaie",
            "Hussein", "Salman", "Hamad", "Al-Tamimi", "Al-Dulaimi", "Khudeda", "Murad", "Qasim",
            "Barzani", "Rashid", "Mohammed", "Al-Saadi", "Al-Khafaji", "Hamid", "Ali Khan",
            "Sulaiman", "Ahmed",
        ),
    ),
    "AFG": NamePool(
        male=(
            "Ahmad", "Mohammad", "Hamid", "Farid", "Jawad", "Sayed", "Reza", "Hussain", "Murtaza",
            "Nasir", "Rahim", "Karim", "Wahid", "Zabihullah", "Najibullah", "Habib", "Ehsan",
            "Milad", "Omid", "Rahmatullah", "Ismail", "Shafiq", "Jamshid", "Mustafa", "Abdullah",
            "Bashir",
        ),
        female=(
            "Fatima", "Zahra", "Maryam", "Masuma", "Nargis", "Farzana", "Shabnam", "Parwana",
            "Sakina", "Hamida", "Roya", "Nilofar", "Zarghona", "Malalai", "Laila", "Sima",
            "Freshta", "Mursal", "Tamana", "Khadija", "Sahar", "Marzia",
        ),
        family=(
            "Ahmadi", "Mohammadi", "Hosseini", "Rahimi", "Karimi", "Sultani", "Noori", "Rezaei",
            "Jafari", "Haidari", "Sharifi", "Amiri", "Hakimi", "Azizi", "Qaderi", "Nazari", "Safi",
            "Stanikzai", "Popal", "Wardak", "Durrani", "Naseri", "Yousufzai", "Sadat", "Barakzai",
            "Alokozay",
        ),
    ),
    "UKR": NamePool(
        male=(
            "Oleksandr", "Serhii", "Andrii", "Dmytro", "Volodymyr", "Yurii", "Mykola", "Ivan",
            "Oleh", "Vasyl", "Viktor", "Maksym", "Bohdan", "Taras", "Vitalii", "Ihor", "Petro",
            "Pavlo", "Artem", "Denys", "Yevhen", "Mykhailo", "Anatolii", "Valentyn",
        ),
        female=(
            "Olena", "Tetiana", "Iryna", "Nataliia", "Oksana", "Yuliia", "Svitlana", "Kateryna",
            "Anastasiia", "Mariia", "Liudmyla", "Halyna", "Valentyna", "Viktoriia", "Alina",
            "Daryna", "Sofiia", "Khrystyna", "Larysa", "Nadiia", "Oleksandra", "Yevheniia",
        ),
        family=(
            "Kovalenko", "Shevchenko", "Tkachenko", "Kravchenko", "Bondarenko", "Melnyk", "Boiko",
            "Kovalchuk", "Oliinyk", "Shevchuk", "Polishchuk", "Lysenko", "Marchenko", "Rudenko",
            "Savchenko", "Petrenko", "Moroz", "Pavlenko", "Klymenko", "Kushnir", "Hrytsenko",
            "Tkachuk", "Levchenko", "Vasylenko", "Zinchenko", "Karpenko",
        ),
    ),
    "RUS": NamePool(
        male=(
            "Aleksandr", "Sergei", "Dmitri", "Andrei", "Alexei", "Ivan", "Mikhail", "Nikolai",
            "Vladimir", "Yuri", "Pavel", "Viktor", "Evgeny", "Konstantin", "Artyom", "Denis",
            "Oleg", "Anton", "Ruslan", "Timur", "Vadim", "Arkadi",
        ),
        female=(
            "Elena", "Olga", "Natalia", "Tatiana", "Irina", "Svetlana", "Ekaterina", "Anastasia",
            "Marina", "Yulia", "Oksana", "Lyudmila", "Galina", "Valentina", "Nadezhda", "Larisa",
            "Daria", "Ksenia", "Polina", "Nina", "Zhanna", "Lilia",
        ),
        family=(
            "Ivanov", "Smirnov", "Kuznetsov", "Popov", "Volkov", "Sokolov", "Petrov", "Vasilev",
            "Morozov", "Novikov", "Fedorov", "Mikhailov", "Lebedev", "Kozlov", "Egorov", "Pavlov",
            "Semenov", "Golubev", "Vinogradov", "Bogdanov", "Orlov", "Makarov", "Zaitsev",
            "Nikitin", "Sorokin", "Belov", "Medvedev", "Kiselev",
        ),
    ),
    "BGR": NamePool(
        male=(
            "Georgi", "Ivan", "Dimitar", "Nikolay", "Petar", "Hristo", "Stoyan", "Todor", "Vasil",
            "Krasimir", "Plamen", "Aleksandar", "Kaloyan", "Yordan", "Boris", "Iliya",
            "Ventsislav", "Lyubomir", "Svetoslav", "Tsvetan", "Valentin", "Rumen",
        ),
        female=(
            "Ivanka", "Yordanka", "Desislava", "Petya", "Galina", "Svetla", "Nadezhda", "Rositsa",
            "Mariya", "Tsvetelina", "Gergana", "Silviya", "Teodora", "Milena", "Snezhana",
            "Stefka", "Veselina", "Radka", "Boryana", "Vesela", "Maya", "Kremena",
        ),
        family=(
            "Ivanov", "Georgiev", "Dimitrov", "Petrov", "Nikolov", "Hristov", "Stoyanov",
            "Todorov", "Iliev", "Angelov", "Atanasov", "Yordanov", "Kolev", "Marinov", "Popov",
            "Stefanov", "Kostov", "Mihaylov", "Dobrev", "Rusev", "Petkov", "Vasilev", "Mladenov",
            "Zhelev",
        ),
    ),
    "TUR": NamePool(
        male=(
            "Mehmet", "Mustafa", "Ahmet", "Hüseyin", "Hasan", "Ibrahim", "Murat", "Emre", "Burak",
            "Deniz", "Kemal", "Osman", "Yusuf", "Ömer", "Serkan", "Volkan", "Tolga", "Kadir",
            "Halil", "Recep", "Selim", "Onur", "Okan", "Ercan", "Erkan", "Fatih",
        ),
        female=(
            "Ayse", "Fatma", "Emine", "Hatice", "Zeynep", "Elif", "Merve", "Özlem", "Sibel",
            "Derya", "Esra", "Büsra", "Hülya", "Aylin", "Melek", "Yasemin", "Songül", "Leyla",
            "Dilek", "Canan", "Gülsüm", "Sevgi", "Tülay", "Nurcan",
        ),
        family=(
            "Yilmaz", "Kaya", "Demir", "Sahin", "Çelik", "Yildiz", "Yildirim", "Öztürk", "Aydin",
            "Özdemir", "Arslan", "Dogan", "Kilic", "Aslan", "Cetin", "Kara", "Özkan", "Simsek",
            "Polat", "Korkmaz", "Aksoy", "Erdogan", "Güler", "Bulut", "Keskin", "Ünal", "Tekin",
            "Karakaya",
        ),
    ),
    "POL": NamePool(
        male=(
            "Piotr", "Krzysztof", "Andrzej", "Tomasz", "Pawel", "Michal", "Marcin", "Lukasz",
            "Jakub", "Grzegorz", "Mateusz", "Adam", "Kamil", "Dariusz", "Wojciech", "Marek",
            "Rafal", "Szymon", "Bartosz", "Przemyslaw", "Zbigniew", "Janusz",
        ),
        female=(
            "Katarzyna", "Malgorzata", "Agnieszka", "Barbara", "Magdalena", "Joanna", "Monika",
            "Aleksandra", "Zofia", "Natalia", "Karolina", "Justyna", "Dorota", "Beata", "Marta",
            "Paulina", "Weronika", "Agata", "Grazyna", "Bozena", "Urszula", "Iwona",
        ),
        family=(
            "Nowak", "Kowalski", "Wisniewski", "Wójcik", "Kowalczyk", "Kaminski", "Lewandowski",
            "Zielinski", "Szymanski", "Wozniak", "Dabrowski", "Kozlowski", "Jankowski", "Mazur",
            "Kwiatkowski", "Krawczyk", "Piotrowski", "Grabowski", "Pawlowski", "Michalski",
            "Nowakowski", "Adamczyk", "Dudek", "Zajac", "Wieczorek", "Jablonski", "Majewski",
            "Olszewski",
        ),
    ),
    "ROU": NamePool(
        male=(
            "Andrei", "Alexandru", "Ionut", "Mihai", "Stefan", "Florin", "Cristian", "Gabriel",
            "Adrian", "Marian", "Constantin", "Gheorghe", "Vasile", "Nicolae", "Dumitru", "Cosmin",
            "Razvan", "Bogdan", "Catalin", "Marius", "Sorin", "Ciprian", "Lucian",
        ),
        female=(
            "Elena", "Ioana", "Andreea", "Mihaela", "Cristina", "Gabriela", "Alexandra", "Daniela",
            "Florentina", "Georgiana", "Ionela", "Adriana", "Simona", "Roxana", "Bianca", "Denisa",
            "Raluca", "Loredana", "Corina", "Camelia", "Lacramioara",
        ),
        family=(
            "Popa", "Popescu", "Radu", "Ionescu", "Dumitru", "Stoica", "Gheorghe", "Matei",
            "Ciobanu", "Rusu", "Munteanu", "Constantin", "Moldovan", "Mihai", "Marin", "Lazar",
            "Florea", "Dinu", "Tudor", "Barbu", "Nistor", "Dobre", "Oprea", "Stanciu", "Sandu",
            "Dragomir",
        ),
    ),
    "ERI": NamePool(
        male=(
            "Yonas", "Tesfaye", "Dawit", "Samuel", "Yohannes", "Berhane", "Mebrahtu", "Haile",
            "Kidane", "Filmon", "Robel", "Semere", "Tekle", "Amanuel", "Mussie", "Tsegay",
            "Goitom", "Habtom", "Efrem", "Yemane", "Biniam", "Awet", "Mikael", "Henok",
        ),
        female=(
            "Senait", "Saba", "Selam", "Yordanos", "Feven", "Rahel", "Mehret", "Luwam", "Tsega",
            "Semhar", "Winta", "Hiwet", "Adiam", "Almaz", "Selamawit", "Meron", "Filmona", "Lidya",
            "Helen", "Eyerus", "Abrehet", "Letebrhan",
        ),
        family=(
            "Tesfay", "Gebremedhin", "Haile", "Tekle", "Berhe", "Kidane", "Mehari", "Ghebreab",
            "Woldu", "Asmerom", "Habte", "Zerai", "Ghirmay", "Yemane", "Andemariam", "Tesfamariam",
            "Gebrehiwet", "Abraha", "Negash", "Fessehaye", "Araya", "Okbay", "Teklehaimanot",
            "Hagos",
        ),
    ),
    "VNM": NamePool(
        male=(
            "Van Minh", "Van Tuan", "Duc Anh", "Quang Huy", "Hoang Nam", "Minh Quan", "Van Thanh",
            "Duc Thang", "Quoc Bao", "Van Hai", "Thanh Tung", "Minh Duc", "Van Hieu", "Cong Vinh",
            "Xuan Phuc", "Huu Nghia", "Van Khoa", "Dinh Trong",
        ),
        female=(
            "Thi Lan", "Thi Mai", "Thi Hoa", "Thi Huong", "Thi Thu", "Ngoc Anh", "Thi Thao",
            "Thu Trang", "Thi Linh", "Thanh Huyen", "Thi Phuong", "Bich Ngoc", "Thi Hanh",
            "Kim Oanh", "Thi Nga", "Thuy Duong", "Thi Yen", "Minh Chau",
        ),
        family=(
            "Nguyen", "Trinh", "Pham", "Hoang", "Phan", "Dang", "Duong", "Dinh", "Truong", "Huynh",
            "Vuong", "Luong", "Trieu", "Quach", "Chau", "Thai",
        ),
    ),
}

# fmt: on

# Origins sharing a romanisation tradition share the variant families below.
SCRIPT_OF_ORIGIN: dict[str, str] = {
    "SYR": "arabic",
    "IRQ": "arabic",
    "AFG": "persian",
    "UKR": "cyrillic",
    "RUS": "cyrillic",
    "BGR": "cyrillic",
    "ERI": "tigrinya",
    "TUR": "turkish",
}

# Each tuple is one family of spellings of the same name; the first member that occurs in a
# pool above is the canonical (passport) spelling there, the others are what other offices write.
# fmt: off
VARIANT_FAMILIES: dict[str, tuple[tuple[str, ...], ...]] = {
    "arabic": (
        ("Mohammed", "Muhammad", "Mohamed", "Mohamad", "Mohammad", "Muhammed"),
        ("Ahmad", "Ahmed", "Achmed"),
        ("Mahmoud", "Mahmud", "Machmud"),
        ("Khaled", "Khalid", "Chaled"),
        ("Yusuf", "Youssef", "Yousef", "Jussuf"),
        ("Hussein", "Husain", "Hussain", "Husein"),
        ("Hassan", "Hasan"),
        ("Abdullah", "Abdulla", "Abdallah"),
        ("Abdulrahman", "Abdul Rahman", "Abdelrahman"),
        ("Omar", "Umar", "Omer"),
        ("Mustafa", "Mostafa", "Moustafa"),
        ("Ibrahim", "Ebrahim", "Ibrahem"),
        ("Ismail", "Ismael", "Esmail"),
        ("Yasin", "Yassin", "Jassin"),
        ("Karim", "Kareem"),
        ("Tarek", "Tareq", "Tariq"),
        ("Walid", "Waleed"),
        ("Haider", "Haidar", "Hayder"),
        ("Murtadha", "Murtada", "Mortada"),
        ("Qasim", "Kasim", "Qassim"),
        ("Fatima", "Fatma", "Fatimah"),
        ("Aisha", "Aischa", "Ayesha"),
        ("Maryam", "Mariam", "Meryem"),
        ("Zainab", "Zeinab", "Sainab"),
        ("Nour", "Noor", "Nur"),
        ("Layla", "Leila", "Laila"),
        ("Huda", "Hoda"),
        ("Yasmin", "Jasmin", "Yasmine"),
        ("Rasha", "Rascha"),
        ("Hiba", "Heba"),
        ("Nisreen", "Nesrin", "Nisrin"),
        ("Zahraa", "Zahra", "Sahra"),
        ("Ruqaya", "Rukaya", "Ruqayya"),
        ("Al-Hassan", "Al-Hasan", "El-Hassan"),
        ("Al-Ahmad", "Al-Ahmed"),
        ("Khalil", "Chalil"),
        ("Mansour", "Mansur"),
        ("Darwish", "Darwisch"),
        ("Othman", "Osman", "Uthman"),
        ("Saleh", "Salih"),
        ("Suleiman", "Sulaiman", "Soliman"),
        ("Abboud", "Abbud"),
        ("Kassem", "Qasem", "Kasem"),
        ("Nasser", "Naser"),
        ("Yousef", "Youssef", "Jusuf"),
        ("Al-Jubouri", "Al-Juburi", "Al-Jabouri"),
        ("Al-Obaidi", "Al-Ubaidi"),
        ("Jasim", "Jassim", "Dschasim"),
        ("Kadhim", "Kazim", "Kadim"),
        ("Al-Sheikh", "Al-Scheich", "Al-Shaikh"),
        ("El-Sayed", "El-Said", "Al-Sayed"),
    ),
    "persian": (
        ("Mohammad", "Mohammed", "Muhammad", "Mohamad"),
        ("Ahmad", "Ahmed"),
        ("Hussain", "Hussein", "Husain"),
        ("Jawad", "Javad", "Dschawad"),
        ("Sayed", "Sayyed", "Sajed"),
        ("Murtaza", "Mortaza", "Murtasa"),
        ("Nasir", "Naser", "Nasser"),
        ("Wahid", "Vahid"),
        ("Zabihullah", "Sabihullah", "Zabiullah"),
        ("Najibullah", "Nadschibullah", "Najibulla"),
        ("Ehsan", "Ihsan"),
        ("Omid", "Umid"),
        ("Shafiq", "Schafik", "Shafik"),
        ("Jamshid", "Dschamschid", "Jamshed"),
        ("Mustafa", "Mostafa"),
        ("Abdullah", "Abdulla"),
        ("Zahra", "Sahra", "Zahraa"),
        ("Maryam", "Mariam"),
        ("Masuma", "Masooma", "Massuma"),
        ("Nargis", "Narges"),
        ("Shabnam", "Schabnam"),
        ("Parwana", "Parvana"),
        ("Nilofar", "Nilufar", "Nilufer"),
        ("Freshta", "Fereshta", "Frishta"),
        ("Khadija", "Chadidscha", "Khadidja"),
        ("Fatima", "Fatema"),
        ("Ahmadi", "Ahmady"),
        ("Mohammadi", "Muhammadi", "Mohamadi"),
        ("Hosseini", "Husseini", "Hussaini"),
        ("Rezaei", "Rezai", "Resai"),
        ("Jafari", "Dschafari", "Jaafari"),
        ("Haidari", "Heidari", "Haydari"),
        ("Sharifi", "Scharifi"),
        ("Qaderi", "Kaderi", "Ghaderi"),
        ("Yousufzai", "Yusufzai", "Jusufsai"),
        ("Alokozay", "Alokozai"),
        ("Noori", "Nuri"),
    ),
    "cyrillic": (
        ("Oleksandr", "Aleksandr", "Alexander", "Oleksander", "Alexandr"),
        ("Aleksandr", "Alexander", "Alexandr", "Aleksander"),
        ("Serhii", "Sergej", "Sergii", "Serhiy", "Sergey"),
        ("Sergei", "Sergej", "Sergey", "Sergii"),
        ("Andrii", "Andrej", "Andriy", "Andrey"),
        ("Andrei", "Andrej", "Andrey"),
        ("Dmytro", "Dmitri", "Dmitrij", "Dmitry"),
        ("Dmitri", "Dmitrij", "Dmitry"),
        ("Volodymyr", "Wolodymyr", "Vladimir", "Wladimir"),
        ("Vladimir", "Wladimir"),
        ("Yurii", "Jurij", "Yuriy", "Yuri", "Juri"),
        ("Yuri", "Juri", "Jurij"),
        ("Mykola", "Nikolai", "Nikolaj", "Mikola"),
        ("Nikolai", "Nikolaj", "Nikolay"),
        ("Nikolay", "Nikolai", "Nikolaj"),
        ("Oleh", "Oleg"),
        ("Vasyl", "Wassyl", "Vasil"),
        ("Vasil", "Wassil"),
        ("Maksym", "Maksim", "Maxym"),
        ("Vitalii", "Witalij", "Vitaliy", "Vitali"),
        ("Ihor", "Igor"),
        ("Pavlo", "Pawlo", "Pavel"),
        ("Pavel", "Pawel"),
        ("Artem", "Artjom", "Artiom"),
        ("Artyom", "Artjom", "Artem"),
        ("Denys", "Denis"),
        ("Yevhen", "Jewgen", "Evgenii", "Yevgen"),
        ("Evgeny", "Jewgeni", "Evgenij", "Yevgeny"),
        ("Mykhailo", "Mychajlo", "Michail", "Mikhail"),
        ("Mikhail", "Michail", "Mikhajl"),
        ("Anatolii", "Anatolij", "Anatoli"),
        ("Alexei", "Alexej", "Aleksei", "Aleksey"),
        ("Konstantin", "Konstantyn"),
        ("Hristo", "Christo", "Khristo"),
        ("Stoyan", "Stojan"),
        ("Yordan", "Iordan"),
        ("Kaloyan", "Kalojan"),
        ("Georgi", "Georgij", "Georgiy"),
        ("Olena", "Elena", "Jelena", "Yelena"),
        ("Elena", "Jelena", "Yelena"),
        ("Tetiana", "Tatjana", "Tatiana", "Tetyana"),
        ("Tatiana", "Tatjana", "Tatyana"),
        ("Iryna", "Irina"),
        ("Irina", "Iryna"),
        ("Nataliia", "Natalija", "Natalia", "Natalya"),
        ("Natalia", "Natalja", "Natalya"),
        ("Oksana", "Oxana"),
        ("Yuliia", "Julija", "Yulia", "Julia"),
        ("Yulia", "Julia", "Julija"),
        ("Svitlana", "Swetlana", "Svetlana"),
        ("Svetlana", "Swetlana"),
        ("Kateryna", "Katerina", "Jekaterina", "Ekaterina"),
        ("Ekaterina", "Jekaterina", "Katerina"),
        ("Anastasiia", "Anastasija", "Anastasia"),
        ("Anastasia", "Anastasija", "Anastassia"),
        ("Mariia", "Marija", "Maria"),
        ("Mariya", "Marija", "Maria"),
        ("Liudmyla", "Ljudmila", "Lyudmila"),
        ("Lyudmila", "Ljudmila", "Ludmila"),
        ("Halyna", "Galina", "Halina"),
        ("Valentyna", "Walentina", "Valentina"),
        ("Valentina", "Walentina"),
        ("Viktoriia", "Viktorija", "Viktoria"),
        ("Khrystyna", "Christina", "Krystyna"),
        ("Larysa", "Larissa", "Larisa"),
        ("Larisa", "Larissa"),
        ("Nadiia", "Nadija", "Nadia"),
        ("Nadezhda", "Nadeschda", "Nadeshda"),
        ("Yevheniia", "Jewgenija", "Evgeniia"),
        ("Ksenia", "Xenia", "Kseniya"),
        ("Daria", "Darja", "Darya"),
        ("Zhanna", "Shanna", "Schanna"),
        ("Yordanka", "Jordanka"),
        ("Desislava", "Dessislava", "Dessislawa"),
        ("Petya", "Petja"),
        ("Rositsa", "Rosiza", "Rositza"),
        ("Tsvetelina", "Zwetelina", "Cvetelina"),
        ("Snezhana", "Sneschana", "Snejana"),
        ("Shevchenko", "Schewtschenko", "Sevcenko"),
        ("Kovalenko", "Kowalenko"),
        ("Tkachenko", "Tkatschenko"),
        ("Kravchenko", "Krawtschenko"),
        ("Melnyk", "Melnik"),
        ("Boiko", "Bojko", "Boyko"),
        ("Kovalchuk", "Kowaltschuk"),
        ("Oliinyk", "Olijnyk", "Oleinik"),
        ("Shevchuk", "Schewtschuk"),
        ("Polishchuk", "Polischtschuk"),
        ("Lysenko", "Lyssenko"),
        ("Marchenko", "Martschenko"),
        ("Savchenko", "Sawtschenko"),
        ("Pavlenko", "Pawlenko"),
        ("Klymenko", "Klimenko"),
        ("Hrytsenko", "Grizenko", "Hryzenko"),
        ("Tkachuk", "Tkatschuk"),
        ("Levchenko", "Lewtschenko"),
        ("Vasylenko", "Wassylenko"),
        ("Zinchenko", "Sintschenko"),
        ("Ivanov", "Iwanow"),
        ("Smirnov", "Smirnow"),
        ("Kuznetsov", "Kusnezow", "Kuznecov"),
        ("Popov", "Popow"),
        ("Volkov", "Wolkow"),
        ("Sokolov", "Sokolow"),
        ("Petrov", "Petrow"),
        ("Vasilev", "Wassiljew", "Vasiliev"),
        ("Morozov", "Morosow"),
        ("Novikov", "Nowikow"),
        ("Fedorov", "Fjodorow", "Fedorow"),
        ("Mikhailov", "Michailow"),
        ("Lebedev", "Lebedew"),
        ("Kozlov", "Koslow"),
        ("Egorov", "Jegorow"),
        ("Pavlov", "Pawlow"),
        ("Semenov", "Semjonow"),
        ("Golubev", "Golubew"),
        ("Vinogradov", "Winogradow"),
        ("Orlov", "Orlow"),
        ("Makarov", "Makarow"),
        ("Zaitsev", "Saizew", "Zaytsev"),
        ("Kiselev", "Kisseljow"),
        ("Medvedev", "Medwedew"),
        ("Georgiev", "Georgiew"),
        ("Dimitrov", "Dimitrow"),
        ("Nikolov", "Nikolow"),
        ("Hristov", "Christow", "Khristov"),
        ("Stoyanov", "Stojanow"),
        ("Todorov", "Todorow"),
        ("Iliev", "Iliew"),
        ("Yordanov", "Jordanow"),
        ("Mihaylov", "Michailow", "Mihailov"),
        ("Zhelev", "Schelew"),
    ),
    "tigrinya": (
        ("Yohannes", "Johannes", "Yohanes"),
        ("Tesfaye", "Tesfay", "Tesfai"),
        ("Tsegay", "Tsegai", "Tsegaye"),
        ("Mussie", "Musie"),
        ("Biniam", "Biniyam"),
        ("Amanuel", "Emanuel"),
        ("Yemane", "Jemane"),
        ("Berhane", "Berhan"),
        ("Yordanos", "Jordanos"),
        ("Feven", "Fiyori", "Fewen"),
        ("Tesfay", "Tesfaye", "Tesfai"),
        ("Gebremedhin", "Ghebremedhin", "Gebremedhn"),
        ("Tekle", "Teklai"),
        ("Berhe", "Berhane"),
        ("Ghebreab", "Gebreab"),
        ("Woldu", "Weldu"),
        ("Zerai", "Zeray"),
        ("Ghirmay", "Girmay"),
        ("Gebrehiwet", "Ghebrehiwet"),
        ("Abraha", "Abreha"),
        ("Fessehaye", "Fesehaye"),
        ("Okbay", "Okbai"),
    ),
    "turkish": (
        ("Hüseyin", "Hüsein", "Hueseyin"),
        ("Ahmet", "Ahmed"),
        ("Mehmet", "Mehmed"),
        ("Ayse", "Aysche", "Ayshe"),
        ("Hatice", "Hatidsche", "Hatidje"),
        ("Zeynep", "Seynep", "Zeinep"),
        ("Büsra", "Buesra", "Bushra"),
        ("Çelik", "Celik", "Tschelik"),
        ("Yildiz", "Yilidiz", "Jildis"),
        ("Yildirim", "Yilderim"),
    ),
}

# fmt: on

# Russian/Bulgarian and Polish family names have a feminine form.
_FEMININE_SUFFIXES: dict[str, tuple[tuple[str, str], ...]] = {
    "RUS": (("ov", "ova"), ("ev", "eva"), ("in", "ina"), ("ow", "owa"), ("ew", "ewa")),
    "BGR": (("ov", "ova"), ("ev", "eva"), ("ow", "owa"), ("ew", "ewa")),
    "POL": (("ski", "ska"), ("cki", "cka"), ("dzki", "dzka")),
}


def feminine(family: str, origin: str) -> str:
    """The form a woman of this origin bears (Ivanov -> Ivanova, Kowalski -> Kowalska)."""
    for masc, fem in _FEMININE_SUFFIXES.get(origin, ()):
        if family.endswith(masc):
            return family[: -len(masc)] + fem
    return family


def variants(name: str, origin: str, *, feminine_form: bool = False) -> tuple[str, ...]:
    """Other spellings of one name token (never the name itself), for the person's origin."""
    script = SCRIPT_OF_ORIGIN.get(origin)
    if script is None:
        return ()
    out: list[str] = []
    for fam in VARIANT_FAMILIES[script]:
        members = [feminine(m, origin) for m in fam] if feminine_form else list(fam)
        if name in members:
            out.extend(m for m in members if m != name and m not in out)
    return tuple(_cp1252_safe(out))


def _cp1252_safe(names: list[str]) -> list[str]:
    safe = []
    for n in names:
        try:
            n.encode("cp1252")
        except UnicodeEncodeError:
            continue
        safe.append(n)
    return safe


_UMLAUT_DIGRAPH = {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
_UMLAUT_PLAIN = {"ä": "a", "ö": "o", "ü": "u", "Ä": "A", "Ö": "O", "Ü": "U", "ß": "ss"}


def has_umlaut(name: str) -> bool:
    return any(c in _UMLAUT_DIGRAPH for c in name)


def umlaut_variant(name: str, plain: bool) -> str:
    """Müller -> Mueller (digraph) or Muller (plain, a system without umlauts); ß -> ss."""
    table = _UMLAUT_PLAIN if plain else _UMLAUT_DIGRAPH
    return "".join(table.get(c, c) for c in name)


def has_separator(name: str) -> bool:
    return "-" in name or " " in name


def separator_variant(name: str, choice: int) -> str:
    """Al-Hassan -> Al Hassan / Alhassan (choice picks one that differs from the original)."""
    parts = name.replace("-", " ").split()
    if len(parts) < 2:
        return name
    joined = (
        "-".join(parts),
        " ".join(parts),
        parts[0] + "".join(p.lower() for p in parts[1:]),
    )
    options = [j for j in joined if j != name]
    return options[choice % len(options)]


# Streets (a house number is added); generic names found in most Brandenburg Gemeinden.
STREETS: tuple[str, ...] = (
    "Bahnhofstr.", "Hauptstr.", "Dorfstr.", "Berliner Str.", "Lindenallee", "Am Markt",
    "Friedensstr.", "Goethestr.", "Schillerstr.", "Karl-Marx-Str.", "Ernst-Thälmann-Str.",
    "Waldweg", "Gartenstr.", "Kirchstr.", "Luckauer Str.", "Lübbener Str.", "Cottbuser Str.",
    "Storkower Str.", "Fontaneweg", "Am Anger", "Rosenstr.", "Birkenweg", "Kiefernweg",
    "Seestr.", "Mühlenweg", "Feldstr.", "Puschkinstr.", "Thomas-Müntzer-Str.",
    "Rudolf-Breitscheid-Str.", "Straße der Jugend", "Spreewaldstr.", "Dahmestr.",
    "Eichenallee", "Wiesenweg", "Am Sportplatz", "Schulstr.", "Bergstr.", "Neue Str.",
    "Parkstr.", "Weinbergstr.", "Heideweg", "Kastanienallee", "Ahornweg", "Fliederweg",
)  # fmt: skip
# Shared accommodation (Gemeinschaftsunterkunft) sites: one per Gemeinde.
SHELTER_STREETS: tuple[str, ...] = (
    "Am Flugplatz", "Gewerbering", "Zum Wasserturm", "An der Kaserne", "Industriestr.",
    "Am Heizwerk", "Siedlungsweg", "Gerichtsstr.", "Am Güterbahnhof", "Kasernenweg",
)  # fmt: skip

BIRTH_PLACES_DE: tuple[str, ...] = (
    "Cottbus", "Berlin-Köpenick", "Berlin-Neukölln", "Berlin-Lichtenberg", "Frankfurt (Oder)",
    "Eisenhüttenstadt", "Senftenberg", "Finsterwalde", "Guben", "Forst (Lausitz)", "Dresden",
    "Leipzig", "Rostock", "Magdeburg", "Fürstenwalde/Spree", "Luckenwalde", "Jüterbog",
    "Zossen", "Hoyerswerda", "Brandenburg an der Havel",
)  # fmt: skip
BIRTH_PLACES: dict[str, tuple[str, ...]] = {
    "SYR": ("Aleppo", "Damaskus", "Homs", "Idlib", "Deir ez-Zor", "Latakia", "Raqqa", "Qamischli"),
    "IRQ": ("Bagdad", "Mossul", "Basra", "Erbil", "Kirkuk", "Dohuk", "Sindschar"),
    "AFG": ("Kabul", "Herat", "Masar-e Scharif", "Kandahar", "Dschalalabad", "Kundus", "Ghazni"),
    "UKR": (
        "Kyjiw",
        "Charkiw",
        "Odesa",
        "Dnipro",
        "Saporischschja",
        "Lwiw",
        "Mykolajiw",
        "Poltawa",
    ),
    "RUS": ("Moskau", "Sankt Petersburg", "Nowosibirsk", "Omsk", "Kasan", "Samara", "Wolgograd"),
    "BGR": ("Sofia", "Plowdiw", "Warna", "Burgas", "Pleven", "Stara Sagora"),
    "TUR": ("Istanbul", "Ankara", "Izmir", "Gaziantep", "Diyarbakir", "Konya", "Adana"),
    "POL": ("Warschau", "Krakau", "Posen", "Stettin", "Breslau", "Gorzów Wielkopolski"),
    "ROU": ("Bukarest", "Iasi", "Cluj-Napoca", "Temeswar", "Constanta", "Craiova", "Brasov"),
    "ERI": ("Asmara", "Keren", "Massawa", "Mendefera", "Dekemhare"),
    "VNM": ("Hanoi", "Ho-Chi-Minh-Stadt", "Hai Phong", "Da Nang", "Nam Dinh", "Thai Binh"),
}

MOBILE_PREFIXES: tuple[str, ...] = (
    "0151", "0152", "0157", "0159", "0160", "0162", "0163", "0170", "0171", "0172", "0173",
    "0174", "0175", "0176", "0177", "0178", "0179", "01512", "01520", "01575",
)  # fmt: skip
# Landline area codes of the district (without the leading 0 when written +49 ...).
AREA_CODES: tuple[str, ...] = ("3375", "3546", "3544", "30", "33763", "33764", "35452", "33766")
EMAIL_DOMAINS: tuple[str, ...] = ("example.org", "example.net", "example.com", "mail.example.org")

# Junk the Melderegister exports in its religion column (dropped by the pipeline).
RELIGION_CODES: tuple[str, ...] = ("ev", "rk", "--", "ak", "is", "VD", "lt", "fr", "")
