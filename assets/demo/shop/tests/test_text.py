import unittest

from text import slugify


class TestText(unittest.TestCase):
    def test_slugify(self):
        self.assertEqual(slugify("Blue Mug, 300 ml"), "blue-mug-300-ml")


if __name__ == "__main__":
    unittest.main()
