# A dependency the e2e test packs as a gem and the deploy installs.
module EsbE2eDep
  def self.greet(who)
    "hello #{who} from esb_e2e_dep"
  end
end
