"""The HTML pages in docs/: each loads nothing from the network, has a
real title, and shows its math as MathML made at build time."""
import glob
import html.parser
import os
import re

import pytest

from test_notebook import REPO

DOCS = os.path.join(REPO, 'docs')
PAGES = sorted(glob.glob(os.path.join(DOCS, '*.html')))
LOADING = {'script': 'src', 'link': 'href', 'img': 'src', 'iframe': 'src',
           'source': 'src', 'video': 'src', 'audio': 'src',
           'embed': 'src', 'object': 'data'}


class Loads(html.parser.HTMLParser):
    """Collects the URLs a page would load, and its title."""

    def __init__(self):
        super().__init__()
        self.urls, self.title, self._in_title = [], '', False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in LOADING and attrs.get(LOADING[tag]):
            self.urls.append((tag, attrs[LOADING[tag]]))
        if tag == 'img' and attrs.get('srcset'):
            self.urls.append((tag, attrs['srcset']))
        self._in_title = tag == 'title'

    def handle_endtag(self, tag):
        self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data


def parse(path):
    with open(path, encoding='utf-8') as f:
        text = f.read()
    page = Loads()
    page.feed(text)
    return text, page


def test_the_four_pages_exist():
    names = {os.path.basename(p) for p in PAGES}
    assert {'class.html', 'neumf.html', 'lab.html', 'errata.html'} <= names


@pytest.mark.parametrize('path', PAGES, ids=os.path.basename)
def test_a_page_loads_nothing_from_the_network(path):
    text, page = parse(path)
    remote = [(tag, url) for tag, url in page.urls
              if re.match(r'\s*(https?:)?//', url)]
    assert not remote, remote
    assert not re.search(r'@import\s+(url\()?\s*["\']?\s*(https?:)?//',
                         text), '@import from the network'
    assert not re.search(r'url\(\s*["\']?\s*(https?:)?//', text), (
        'a stylesheet url() from the network')


@pytest.mark.parametrize('path', PAGES, ids=os.path.basename)
def test_a_page_has_a_real_title(path):
    _, page = parse(path)
    assert page.title.strip() and page.title.strip() != 'Notebook'


def test_a_network_check_that_can_fail():
    page = Loads()
    page.feed('<link rel="stylesheet" href="https://cdn.example/x.css">'
              '<script src="//cdn.example/x.js"></script>')
    assert [url for _, url in page.urls] == [
        'https://cdn.example/x.css', '//cdn.example/x.js']


@pytest.mark.parametrize('name', ['class.html', 'neumf.html', 'lab.html'])
def test_math_is_mathml_not_tex(name):
    text, _ = parse(os.path.join(DOCS, name))
    assert text.count('<math') >= 5
    assert 'MATHPLACEHOLDER' not in text
    # no TeX left for a script to typeset: no $$, no \frac outside <math>
    outside = re.sub(r'<math.*?</math>|<pre.*?</pre>|<code.*?</code>', '',
                     text, flags=re.S)
    assert '$$' not in outside
    tex = re.findall(r'\\(?:hat|sigma|ln|mathbf|mathcal|frac|ell)\b',
                     outside)
    assert not tex, f'TeX left for a script to typeset: {tex[:5]}'
    # every command converted: none left as text inside the MathML
    for math in re.findall(r'<math.*?</math>', text, flags=re.S):
        assert '\\' not in math and '<mi>&</mi>' not in math, math


def test_aligned_math_lines_up_in_chromium_too():
    """An aligned block becomes a two-column mtable; MathML Core browsers
    ignore columnalign, so the page's CSS must align the cells."""
    text, _ = parse(os.path.join(DOCS, 'neumf.html'))
    assert 'columnalign="right"' in text and 'columnalign="left"' in text
    for side in ('left', 'right'):
        assert re.search(r'mtd\[columnalign="%s"\]\s*\{\s*text-align:\s*%s'
                         % (side, side), text), side


def test_outputs_are_in_a_fixed_width_font():
    """The diffs' -/+ columns and the printed tables line up only in a
    fixed-width font. The lab template's `.jp-OutputArea-output pre`
    (one class) says `font-family: inherit`, later in the page than our
    CSS; ours must name a font with a selector of more classes."""
    text, _ = parse(os.path.join(DOCS, 'neumf.html'))
    theirs = re.findall(r'\n([^{}\n]*)\{[^}]*font-family:\s*inherit',
                        text)
    assert '.jp-OutputArea-output pre ' in theirs
    [ours] = re.findall(
        r'\n([^{}\n]*\.jp-OutputArea-output pre)\s*\{\s*'
        r'font-family:\s*var\(--jp-code-font-family', text)
    assert ours.count('.') > 1, ours  # outranks the template's rule


@pytest.mark.parametrize('path', PAGES, ids=os.path.basename)
def test_heading_anchors_hold_no_markup(path):
    """A heading's anchor is made from its text: math in a heading would
    put MathML inside id= and href=, breaking the heading on the page."""
    text, _ = parse(path)
    for attribute in re.findall(r'\b(?:id|href)="([^"]*)"', text):
        assert '<' not in attribute and 'math' not in attribute, attribute


def test_display_math_keeps_the_browsers_math_layout():
    """`display: block` on <math display="block"> turns the equation into
    an ordinary block, and Chromium sets it flush left; `block math`
    keeps the browser's centring."""
    text, _ = parse(os.path.join(DOCS, 'neumf.html'))
    [rule] = re.findall(r'math\[display="block"\]\s*\{([^}]*)\}', text)
    assert re.search(r'display:\s*block math\s*;', rule), rule


def test_a_binder_badge_is_a_link_not_a_remote_image():
    """The notebooks open with a Binder badge (an image on mybinder.org):
    on the pages it is a plain link, so nothing loads from the network."""
    for name in ('class.html', 'neumf.html', 'lab.html'):
        text, page = parse(os.path.join(DOCS, name))
        assert 'badge_logo.svg' not in text
        assert re.search(r'<a href="https://mybinder\.org/v2/gh/[^"]+">'
                         r'Open in Binder</a>', text), name
