"""Questions about the built-in plays, written for this project, each with the line that answers it.

A question says in other words what a line of a play says (who says what, in which play); the chunk
that holds the line is the one retrieval should find. These are the questions keywords find hard (the
words differ) and meaning should find. The lines are as the built-in Shakespeare spells them (a test
checks that each is in the text), compared on words alone: case and punctuation do not matter.
"""

from __future__ import annotations

# (question, play, the line that answers it)
PARAPHRASED = (
    ("Which king would trade his whole realm for something to ride?", "Richard III", "my kingdom for a horse"),
    ("Who opens his play saying the gloomy season has turned to bright summer?", "Richard III",
     "now is the winter of our discontent"),
    ("Who orders that a traitor be beheaded at once?", "Richard III", "off with his head"),
    ("Who says that a guilty mind is only a word invented by the fearful?", "Richard III",
     "conscience is but a word that cowards use"),
    ("Who wonders whether it is nobler to endure suffering or to end it?", "Hamlet", "to be or not to be"),
    ("Who holds the skull of a jester he knew as a child?", "Hamlet", "alas poor yorick"),
    ("Who says there is decay in the Danish kingdom?", "Hamlet", "something is rotten in the state of denmark"),
    ("Who wishes his body could thaw and dissolve away?", "Hamlet", "o that this too too solid flesh would melt"),
    ("What advice does a father give his son about lending money?", "Hamlet", "neither a borrower nor a lender be"),
    ("Who tells the woman he loved to go and live in a convent?", "Hamlet", "get thee to a nunnery"),
    ("What are the dying prince's last words?", "Hamlet", "the rest is silence"),
    ("Who says that weakness is the name of the female sex?", "Hamlet", "frailty thy name is woman"),
    ("Who says that things are good or evil only because we judge them so?", "Hamlet",
     "there is nothing either good or bad but thinking makes it so"),
    ("Who sees a blade floating in the air before committing murder?", "Macbeth",
     "is this a dagger which i see before me"),
    ("Who tries to scrub an imagined stain of blood off her hands while sleepwalking?", "Macbeth", "out damned spot"),
    ("What do the three witches chant as they stir their pot?", "Macbeth", "double double toil and trouble"),
    ("Who says that life creeps on day after day to no purpose?", "Macbeth", "to morrow and to morrow and to morrow"),
    ("What riddle about beauty and ugliness do the witches speak together?", "Macbeth", "fair is foul and foul is fair"),
    ("Who urges her husband to find his nerve and not fail?", "Macbeth", "screw your courage to the sticking place"),
    ("Who says no perfume could sweeten her small hand?", "Macbeth", "all the perfumes of arabia"),
    ("Who was not born in the usual way but cut from his mother?", "Macbeth",
     "macduff was from his mother's womb untimely ripp'd"),
    ("Which witch feels a tingling that warns her something evil approaches?", "Macbeth", "by the pricking of my thumbs"),
    ("Who asks from her balcony why her lover must be who he is?", "Romeo and Juliet", "wherefore art thou romeo"),
    ("Who says a flower would smell as sweet under any other name?", "Romeo and Juliet", "that which we call a rose"),
    ("Who sees brightness from a window and compares his love to the sun?", "Romeo and Juliet",
     "what light through yonder window breaks"),
    ("Who says that saying goodbye is a pleasant kind of sadness?", "Romeo and Juliet", "parting is such sweet sorrow"),
    ("How does the young lover die after drinking poison?", "Romeo and Juliet", "thus with a kiss i die"),
    ("Which old king says an ungrateful child wounds worse than a snake's bite?", "King Lear",
     "sharper than a serpent's tooth"),
    ("Who shouts at the storm to blow until it bursts?", "King Lear", "blow winds and crack your cheeks"),
    ("Who warns his youngest daughter that silence earns her no reward?", "King Lear", "nothing will come of nothing"),
    ("Who says that the devil himself is a well-bred man?", "King Lear", "the prince of darkness is a gentleman"),
    ("Who says that people are made of the same material as dreams?", "The Tempest",
     "such stuff as dreams are made on"),
    ("Who marvels at how beautiful mankind is, having seen so few people?", "The Tempest", "o brave new world"),
    ("Which spirit sings that a drowned father lies deep under the sea?", "The Tempest",
     "full fathom five thy father lies"),
    ("Who cries that the underworld is empty because its demons are all on the island?", "The Tempest",
     "hell is empty and all the devils are here"),
    ("Who warns the ruler of Rome to fear the middle of March?", "Julius Caesar", "beware the ides of march"),
    ("Who says that our failings come from ourselves, not from fate?", "Julius Caesar",
     "the fault dear brutus is not in our stars"),
    ("Who insults the common people of Rome, calling them dogs?", "Coriolanus", "what would you have you curs"),
    ("Who greets his quiet wife as his gracious silence?", "Coriolanus", "my gracious silence hail"),
    ("Who says even animals know who their friends are?", "Coriolanus", "nature teaches beasts to know their friends"),
)
