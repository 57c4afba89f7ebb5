"""A dependency the e2e test packs as a wheel and the deploy installs."""


def greet(who):
    return "hello " + who + " from esb_e2e_dep"
